using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>The I/O path exports: resolve the two handles, check the thread, hand over to
/// <see cref="BdevChannel.Submit"/>. One crossing per I/O, nothing allocated.</summary>
internal static unsafe class BdevIoExports
{
    /// <summary>Resolves descriptor and channel handles; the core checks that they go
    /// together and that the calling thread owns the channel (<see cref="BdevIoChecks.Channel"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Resolve(nint desc, nint ch, out BdevDesc? d, out BdevChannel? bc)
    {
        bc = null;
        d = HandleTable.Get<BdevDesc>(desc, HandleType.BdevDesc);
        if (d == null)
        {
            return Guard.Bad(desc, HandleType.BdevDesc);
        }
        IoChannel? c = HandleTable.Get<IoChannel>(ch, HandleType.IoChannel);
        if (c == null)
        {
            return Guard.Bad(ch, HandleType.IoChannel);
        }
        return BdevIoChecks.Channel(d, c, out bc);
    }

    internal static int Submit(nint desc, nint ch, BdevIoType type, Iovec* iov, int iovcnt, void* buf,
        ulong offsetBlocks, ulong numBlocks, nint cb, void* arg)
    {
        int rc = Resolve(desc, ch, out BdevDesc? d, out BdevChannel? bc);
        if (rc != 0)
        {
            return rc;
        }
        if (cb == 0)
        {
            return LastError.Set(Errno.EINVAL, "completion callback is NULL");
        }
        return bc!.Submit(d!, type, iov, iovcnt, buf, offsetBlocks, numBlocks, cb, (nint)arg);
    }

    /// <summary>The byte-addressed calls: offset and length must be whole blocks. The handles are
    /// resolved once, and a power-of-two block size (every one in practice) is a mask and a
    /// shift, not two 64-bit divisions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int SubmitBytes(nint desc, nint ch, BdevIoType type, Iovec* iov, int iovcnt, void* buf,
        ulong offset, ulong nbytes, nint cb, void* arg)
    {
        int rc = Resolve(desc, ch, out BdevDesc? d, out BdevChannel? bc);
        if (rc != 0)
        {
            return rc;
        }
        if (cb == 0)
        {
            return LastError.Set(Errno.EINVAL, "completion callback is NULL");
        }
        uint bs = d!.Bdev.BlockSize;
        ulong offsetBlocks, numBlocks;
        if (System.Numerics.BitOperations.IsPow2(bs))
        {
            if (((offset | nbytes) & (bs - 1)) != 0)
            {
                return NotWholeBlocks();
            }
            int shift = System.Numerics.BitOperations.TrailingZeroCount(bs);
            offsetBlocks = offset >> shift;
            numBlocks = nbytes >> shift;
        }
        else
        {
            if (offset % bs != 0 || nbytes % bs != 0)
            {
                return NotWholeBlocks();
            }
            offsetBlocks = offset / bs;
            numBlocks = nbytes / bs;
        }
        return bc!.Submit(d, type, iov, iovcnt, buf, offsetBlocks, numBlocks, cb, (nint)arg);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NotWholeBlocks() =>
        LastError.Set(Errno.EINVAL, "offset and length must be multiples of the block size");

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_read_blocks", CallConvs = [typeof(CallConvCdecl)])]
    [HotPathExport]
    public static int ReadBlocks(nint desc, nint ch, void* buf, ulong off, ulong num, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.Read, null, 0, buf, off, num, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_read", CallConvs = [typeof(CallConvCdecl)])]
    [HotPathExport]
    public static int Read(nint desc, nint ch, void* buf, ulong off, ulong len, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SubmitBytes(desc, ch, BdevIoType.Read, null, 0, buf, off, len, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_readv_blocks", CallConvs = [typeof(CallConvCdecl)])]
    [HotPathExport]
    public static int ReadvBlocks(nint desc, nint ch, Iovec* iov, int iovcnt, ulong off, ulong num, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.Read, iov, iovcnt, null, off, num, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_readv", CallConvs = [typeof(CallConvCdecl)])]
    public static int Readv(nint desc, nint ch, Iovec* iov, int iovcnt, ulong off, ulong len, nint cb, void* arg)
        => ReadvGuarded(desc, ch, iov, iovcnt, off, len, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ReadvGuarded(nint desc, nint ch, Iovec* iov, int iovcnt, ulong off, ulong len, nint cb,
        void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SubmitBytes(desc, ch, BdevIoType.Read, iov, iovcnt, null, off, len, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_write_blocks", CallConvs = [typeof(CallConvCdecl)])]
    [HotPathExport]
    public static int WriteBlocks(nint desc, nint ch, void* buf, ulong off, ulong num, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.Write, null, 0, buf, off, num, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_write", CallConvs = [typeof(CallConvCdecl)])]
    [HotPathExport]
    public static int Write(nint desc, nint ch, void* buf, ulong off, ulong len, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SubmitBytes(desc, ch, BdevIoType.Write, null, 0, buf, off, len, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_writev_blocks", CallConvs = [typeof(CallConvCdecl)])]
    [HotPathExport]
    public static int WritevBlocks(nint desc, nint ch, Iovec* iov, int iovcnt, ulong off, ulong num, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.Write, iov, iovcnt, null, off, num, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_writev", CallConvs = [typeof(CallConvCdecl)])]
    public static int Writev(nint desc, nint ch, Iovec* iov, int iovcnt, ulong off, ulong len, nint cb, void* arg)
        => WritevGuarded(desc, ch, iov, iovcnt, off, len, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int WritevGuarded(nint desc, nint ch, Iovec* iov, int iovcnt, ulong off, ulong len, nint cb,
        void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SubmitBytes(desc, ch, BdevIoType.Write, iov, iovcnt, null, off, len, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_write_zeroes_blocks", CallConvs = [typeof(CallConvCdecl)])]
    public static int WriteZeroesBlocks(nint desc, nint ch, ulong off, ulong num, nint cb, void* arg)
        => WriteZeroesBlocksGuarded(desc, ch, off, num, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int WriteZeroesBlocksGuarded(nint desc, nint ch, ulong off, ulong num, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.WriteZeroes, null, 0, null, off, num, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_write_zeroes", CallConvs = [typeof(CallConvCdecl)])]
    public static int WriteZeroes(nint desc, nint ch, ulong off, ulong len, nint cb, void* arg)
        => WriteZeroesGuarded(desc, ch, off, len, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int WriteZeroesGuarded(nint desc, nint ch, ulong off, ulong len, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SubmitBytes(desc, ch, BdevIoType.WriteZeroes, null, 0, null, off, len, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_unmap_blocks", CallConvs = [typeof(CallConvCdecl)])]
    public static int UnmapBlocks(nint desc, nint ch, ulong off, ulong num, nint cb, void* arg)
        => UnmapBlocksGuarded(desc, ch, off, num, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int UnmapBlocksGuarded(nint desc, nint ch, ulong off, ulong num, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.Unmap, null, 0, null, off, num, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_unmap", CallConvs = [typeof(CallConvCdecl)])]
    public static int Unmap(nint desc, nint ch, ulong off, ulong len, nint cb, void* arg)
        => UnmapGuarded(desc, ch, off, len, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int UnmapGuarded(nint desc, nint ch, ulong off, ulong len, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SubmitBytes(desc, ch, BdevIoType.Unmap, null, 0, null, off, len, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_flush_blocks", CallConvs = [typeof(CallConvCdecl)])]
    public static int FlushBlocks(nint desc, nint ch, ulong off, ulong num, nint cb, void* arg)
        => FlushBlocksGuarded(desc, ch, off, num, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FlushBlocksGuarded(nint desc, nint ch, ulong off, ulong num, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.Flush, null, 0, null, off, num, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_flush", CallConvs = [typeof(CallConvCdecl)])]
    public static int Flush(nint desc, nint ch, ulong off, ulong len, nint cb, void* arg)
        => FlushGuarded(desc, ch, off, len, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FlushGuarded(nint desc, nint ch, ulong off, ulong len, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SubmitBytes(desc, ch, BdevIoType.Flush, null, 0, null, off, len, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_reset", CallConvs = [typeof(CallConvCdecl)])]
    public static int Reset(nint desc, nint ch, nint cb, void* arg) => ResetGuarded(desc, ch, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ResetGuarded(nint desc, nint ch, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Submit(desc, ch, BdevIoType.Reset, null, 0, null, 0, 0, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_submit_batch", CallConvs = [typeof(CallConvCdecl)])]
    public static int SubmitBatch(nint desc, nint ch, NbBdevIoRequest* reqs, int count)
        => SubmitBatchGuarded(desc, ch, reqs, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SubmitBatchGuarded(nint desc, nint ch, NbBdevIoRequest* reqs, int count)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Batch(desc, ch, reqs, count);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int Batch(nint desc, nint ch, NbBdevIoRequest* reqs, int count)
    {
        int rc = Resolve(desc, ch, out BdevDesc? d, out BdevChannel? bc);
        if (rc != 0)
        {
            return rc;
        }
        if (reqs == null)
        {
            return Guard.Null("reqs");
        }
        if (count <= 0 || count > 65536)
        {
            return LastError.Set(Errno.EINVAL, $"batch count {count} must be 1 .. 65536");
        }
        for (int i = 0; i < count; i++)
        {
            NbBdevIoRequest* r = &reqs[i];
            BdevIoType type = (BdevIoType)r->IoType;
            if (r->IoType is < 1 or > 6 || type == BdevIoType.Reset)
            {
                rc = LastError.Set(Errno.EINVAL, $"batch entry {i}: io_type {r->IoType} cannot be batched");
            }
            else if (r->Callback == 0)
            {
                rc = LastError.Set(Errno.EINVAL, $"batch entry {i}: completion callback is NULL");
            }
            else
            {
                bool data = type is BdevIoType.Read or BdevIoType.Write;
                Iovec* iov = data && r->IovCount != 0 ? r->Iov : null;
                void* buf = data && r->IovCount == 0 ? r->Buf : null;
                if (data && iov == null && buf == null)
                {
                    rc = LastError.Set(Errno.EINVAL, $"batch entry {i}: buffer is NULL");
                }
                else
                {
                    rc = bc!.Submit(d!, type, iov, r->IovCount, buf, r->OffsetBlocks, r->NumBlocks, r->Callback,
                        (nint)r->CallbackArg);
                }
            }
            if (rc != 0)
            {
                return i > 0 ? i : rc;
            }
        }
        return count;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_queue_io_wait", CallConvs = [typeof(CallConvCdecl)])]
    public static int QueueIoWait(nint bdev, nint ch, NbBdevIoWaitEntry* entry) => QueueIoWaitGuarded(bdev, ch, entry);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int QueueIoWaitGuarded(nint bdev, nint ch, NbBdevIoWaitEntry* entry)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return IoWait(bdev, ch, entry);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int IoWait(nint bdev, nint ch, NbBdevIoWaitEntry* entry)
    {
        Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
        if (b == null)
        {
            return rc;
        }
        IoChannel? c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out rc);
        if (c == null)
        {
            return rc;
        }
        if (entry == null || entry->CbFn == 0)
        {
            return LastError.Set(Errno.EINVAL, "entry or entry->cb_fn is NULL");
        }
        if (c.State is not BdevChannel bc || bc.Bdev != b || entry->Bdev != bdev)
        {
            return LastError.Set(Errno.EINVAL, "io channel, bdev and entry->bdev do not match");
        }
        if (c.RefCount <= 0)
        {
            return IoChannel.Unreferenced();
        }
        return bc.QueueIoWait((nint)entry, entry->CbFn, entry->CbArg);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_io_get_nvme_status", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetNvmeStatus(BdevIo* io, uint* cdw0, int* sct, int* sc)
        => GetNvmeStatusGuarded(io, cdw0, sct, sc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetNvmeStatusGuarded(BdevIo* io, uint* cdw0, int* sct, int* sc)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (!BdevIoRegistry.InCallback(io))
            {
                return LastError.Set(Errno.EINVAL, "not a bdev_io inside its completion callback");
            }
            BdevIo.NvmeStatus(io, out uint c0, out int t, out int s);
            if (cdw0 != null)
            {
                *cdw0 = c0;
            }
            if (sct != null)
            {
                *sct = t;
            }
            if (sc != null)
            {
                *sc = s;
            }
            return 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_io_get_type", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetType(BdevIo* io) => GetTypeGuarded(io);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetTypeGuarded(BdevIo* io)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return !BdevIoRegistry.InCallback(io)
                ? LastError.Set(Errno.EINVAL, "not a bdev_io inside its completion callback")
                : (int)io->Type;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
