using System.Runtime.CompilerServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>What the bdev layer checks before an I/O is accepted, so that a backend sees
/// only valid requests: the descriptor and bdev can take it, the range lies inside the bdev,
/// buffers and iovecs add up to the length and meet the bdev's alignment and DMA rules.
/// Every refusal is a negative errno with a message that names the bad input.</summary>
internal static unsafe class BdevIoChecks
{
    /// <summary>The descriptor is open, the bdev registered and the I/O type supported.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Target(Bdev bdev, BdevDesc desc, BdevIoType type)
    {
        if (desc.Closed)
        {
            return LastError.Set(Errno.EBADF, "descriptor is closed");
        }
        if (bdev.State != BdevState.Registered)
        {
            return LastError.Set(Errno.ENODEV, "bdev is being removed");
        }
        if (!bdev.Supported[(int)type])
        {
            return Unsupported(bdev, type);
        }
        return 0;
    }

    /// <summary>The channel an I/O of <paramref name="desc"/> goes to: a channel of the
    /// descriptor's bdev, used from the thread that owns it (<see cref="IoChannel.CheckOwner"/>).
    /// Every front end resolves its descriptor and channel, then asks this once per call.</summary>
    /// <remarks>Shaped for the I/O path: the out value is written once, on success, and the
    /// owner check is the predicate plus the refusal, so that inlined into an export
    /// this compiles to the instructions the checks written in the export did (callgrind, per
    /// nb_bdev_read_blocks: equal; each other shape tried cost one to five more).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Channel(BdevDesc desc, IoChannel channel, out BdevChannel? bdevChannel)
    {
        bdevChannel = null;
        BdevChannel? bc = channel.State as BdevChannel;
        if (bc == null || bc.Bdev != desc.Bdev)
        {
            return LastError.Set(Errno.EINVAL, "io channel does not belong to this descriptor's bdev");
        }
        if (!channel.IsOwnedByCurrentThread)
        {
            return IoChannel.NotOwned(channel);
        }
        if (channel.RefCount <= 0)
        {
            return IoChannel.Unreferenced();
        }
        bdevChannel = bc;
        return 0;
    }

    /// <summary>Access, range and (for reads and writes) buffers of a block I/O.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Request(Bdev bdev, BdevDesc desc, BdevIoType type, Iovec* iovs, int iovCount, void* buf,
        ulong offsetBlocks, ulong numBlocks)
    {
        int rc = Target(bdev, desc, type);
        if (rc != 0)
        {
            return rc;
        }
        if (type != BdevIoType.Read && !desc.Writable)
        {
            return LastError.Set(Errno.EBADF, "descriptor is read-only");
        }
        ulong end = offsetBlocks + numBlocks;
        // One branch for the three conditions (non-short-circuit |): the common case is one
        // well-predicted jump on the I/O path.
        if ((end < offsetBlocks) | (end > bdev.BlockCount) |
            ((numBlocks == 0) & (type != BdevIoType.Flush) & (type != BdevIoType.Reset)))
        {
            return OutOfRange(bdev, offsetBlocks, numBlocks);
        }
        // The common case inline: one buffer, no alignment requirement. A buffer below
        // NeverMapped (NULL too) goes to the full check, at the cost of the NULL test.
        if (type <= BdevIoType.Write && ((nuint)buf < NeverMapped || bdev.RequiredAlignment != 1))
        {
            return Buffers(bdev, iovs, iovCount, buf, numBlocks * bdev.BlockSize);
        }
        return 0;
    }

    /// <summary>An NVMe passthrough command: a writable descriptor, buffer and length
    /// together, 4-byte aligned, DMA memory where the device needs it, and what the
    /// backend's own check says of the command.</summary>
    public static int Passthru(Bdev bdev, BdevDesc desc, BdevIoType type, byte* cmd, void* buf, ulong nbytes)
    {
        int rc = Target(bdev, desc, type);
        if (rc != 0)
        {
            return rc;
        }
        if (!desc.Writable)
        {
            return LastError.Set(Errno.EBADF, "NVMe passthrough needs a descriptor opened for writing");
        }
        if ((buf == null) != (nbytes == 0) || nbytes > int.MaxValue)
        {
            return LastError.Set(Errno.EINVAL, nbytes > int.MaxValue
                ? $"passthrough data length {nbytes} is too large"
                : "passthrough buffer and length must be both set or both zero");
        }
        if (((nuint)buf & 3) != 0)
        {
            return LastError.Set(Errno.EINVAL, "passthrough buffer must be 4-byte aligned");
        }
        if (bdev.NeedsDmaBuffers && buf != null && NbEnvironment.Dma?.ContainsRange(buf, (nuint)nbytes) != true)
        {
            return NotDma(bdev);
        }
        return bdev.CheckPassthru(type, cmd, nbytes);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Unsupported(Bdev bdev, BdevIoType type) => LastError.Set(Errno.ENOTSUP,
        type is BdevIoType.NvmeAdmin or BdevIoType.NvmeIo
            ? $"bdev '{bdev.Name}' ({bdev.ModuleName}) takes no NVMe " +
              $"{(type == BdevIoType.NvmeAdmin ? "admin" : "I/O")} passthrough"
            : "I/O type is not supported by this bdev");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int OutOfRange(Bdev bdev, ulong offset, ulong num) => LastError.Set(Errno.EINVAL,
        $"blocks {offset}+{num} are outside bdev '{bdev.Name}' ({bdev.BlockCount} blocks) or the length is zero");

    /// <summary>Linux never maps the first 64 KiB (vm.mmap_min_addr's default): a buffer there is
    /// NULL plus an offset, and copying into it would fault inside the library.</summary>
    private const nuint NeverMapped = 65536;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int BadAddress(string what, void* p) => LastError.Set(Errno.EFAULT,
        $"{what} address 0x{(nuint)p:x} is in the first 64 KiB of the address space, which is never mapped");

    private static int Buffers(Bdev bdev, Iovec* iovs, int iovCount, void* buf, ulong bytes)
    {
        uint alignMask = bdev.RequiredAlignment - 1;
        if (buf != null && (nuint)buf < NeverMapped)
        {
            return BadAddress("buffer", buf);
        }
        if (buf != null)
        {
            if (((nuint)buf & alignMask) != 0)
            {
                return Misaligned(bdev);
            }
            if (!bdev.NeedsDmaBuffers)
            {
                return 0;
            }
            DmaPool? pool = NbEnvironment.Dma; // one buffer: the check inline, no frame of its own
            return pool != null && pool.ContainsRange(buf, (nuint)bytes) ? 0 : NotDma(bdev);
        }
        if (iovs == null)
        {
            return LastError.Set(Errno.EINVAL, "buffer is NULL");
        }
        if (iovCount <= 0 || iovCount > 1024)
        {
            return LastError.Set(Errno.EINVAL, "iovcnt must be 1 .. 1024");
        }
        if ((nuint)iovs < NeverMapped)
        {
            return BadAddress("iovec array", iovs);
        }
        ulong sum = 0;
        for (int i = 0; i < iovCount; i++)
        {
            if (iovs[i].Base == null && iovs[i].Length != 0)
            {
                return LastError.Set(Errno.EINVAL, "an iovec has a NULL base");
            }
            if (iovs[i].Base != null && (nuint)iovs[i].Base < NeverMapped)
            {
                return BadAddress($"iovec {i} base", iovs[i].Base);
            }
            if (((nuint)iovs[i].Base & alignMask) != 0)
            {
                return Misaligned(bdev);
            }
            ulong len = iovs[i].Length;
            if (len > bytes || sum + len > bytes)
            {
                return IovLengthMismatch(sum + len < sum ? ulong.MaxValue : sum + len, bytes); // no wrap-around
            }
            sum += len;
        }
        if (sum != bytes)
        {
            return IovLengthMismatch(sum, bytes);
        }
        return bdev.NeedsDmaBuffers ? Dma(bdev, iovs, iovCount, null, bytes) : 0;
    }

    /// <summary>A device that does its own DMA (user-space NVMe) reaches only the DMA pool,
    /// and describes a transfer in pages: iovecs may meet only at page boundaries.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Dma(Bdev bdev, Iovec* iovs, int iovCount, void* buf, ulong bytes)
    {
        DmaPool? pool = NbEnvironment.Dma;
        if (buf != null)
        {
            return pool != null && pool.ContainsRange(buf, (nuint)bytes) ? 0 : NotDma(bdev);
        }
        const nuint page = 4096;
        for (int i = 0; i < iovCount; i++)
        {
            Iovec v = iovs[i];
            if (pool == null || !pool.ContainsRange(v.Base, v.Length))
            {
                return NotDma(bdev);
            }
            if ((i > 0 && ((nuint)v.Base & (page - 1)) != 0) ||
                (i < iovCount - 1 && (((nuint)v.Base + v.Length) & (page - 1)) != 0))
            {
                return LastError.Set(Errno.EINVAL, $"iovec {i} of {iovCount}: bdev '{bdev.Name}' needs iovecs " +
                    "to meet at 4 KiB page boundaries (every iovec but the first starts on one, every one but " +
                    "the last ends on one)");
            }
        }
        return 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NotDma(Bdev bdev) => LastError.Set(Errno.EINVAL,
        $"bdev '{bdev.Name}' ({bdev.ModuleName}) transfers by DMA: buffers must come from nb_dma_malloc");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Misaligned(Bdev bdev) => LastError.Set(Errno.EINVAL,
        $"buffer is not aligned to {bdev.RequiredAlignment} bytes, as bdev '{bdev.Name}' requires");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int IovLengthMismatch(ulong sum, ulong bytes) => LastError.Set(Errno.EINVAL,
        $"iovecs add up to {sum} bytes, the I/O is {bytes} bytes");
}
