using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;
using NativeBdev.Reactor;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The I/O commands: each a bdev I/O on the poll group thread's channel of its namespace's
/// bdev, over the request's chunks (no copy); the bdev's NVMe status goes back as it is.</summary>
internal sealed unsafe partial class NvmfConnection
{
    private const ushort ScLbaOutOfRange = 0x80;
    private const ushort ScCompareFailure = 0x85; // media and data integrity errors (SCT 2h)
    private const byte FuseMask = 3;
    private const uint DsmDeallocate = 1u << 2;
    private const uint Fua = 1u << 30;

    private IoChannel?[]? _channels;
    private NvmfNamespace?[]? _channelOf;
    private readonly List<IoChannel> _retiredChannels = new();

    private void Io(NvmfRequest* r)
    {
        NvmfNamespace? ns = _subsystem!.Namespace(r->Cmd.Nsid);
        if (ns == null)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, ScInvalidNamespace));
            return;
        }
        BdevChannel? ch = ChannelFor(ns);
        if (ch == null)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, ScInternalError, dnr: false));
            return;
        }
        ushort status = Check(r, ns);
        if (status != 0)
        {
            Complete(r, status);
            return;
        }
        r->Outstanding = 0;
        r->Received = 0; // Dataset Management: the next range to deallocate
        _atBdev++;
        Launch(r, ns, ch);
    }

    /// <summary>Opcode, LBA range and transfer length of an I/O command against its namespace.</summary>
    private static ushort Check(NvmfRequest* r, NvmfNamespace ns)
    {
        ulong blocks = ns.Bdev.BlockCount;
        switch (r->Cmd.Opcode)
        {
            case NvmeSpec.IoRead:
            case NvmeSpec.IoWrite:
            case NvmeSpec.IoWriteZeroes:
            case NvmeSpec.IoCompare:
                if ((r->Cmd.Flags & FuseMask) != 0)
                {
                    return Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField); // no fused compare and write
                }
                ulong slba = r->Cmd.Cdw10 | (ulong)r->Cmd.Cdw11 << 32;
                ulong nlb = (r->Cmd.Cdw12 & 0xFFFF) + 1UL;
                if (slba >= blocks || nlb > blocks - slba)
                {
                    return Status(NvmeSpec.SctGeneric, ScLbaOutOfRange);
                }
                if (r->Cmd.Opcode != NvmeSpec.IoWriteZeroes && nlb * ns.Bdev.BlockSize != r->Length)
                {
                    return Status(NvmeSpec.SctGeneric, ScDataSglLengthInvalid);
                }
                return 0;
            case NvmeSpec.IoFlush:
                return 0;
            case NvmeSpec.IoDatasetManagement:
                uint ranges = (r->Cmd.Cdw10 & 0xFF) + 1;
                if (r->Length < ranges * 16)
                {
                    return Status(NvmeSpec.SctGeneric, ScDataSglLengthInvalid);
                }
                for (uint i = 0; i < ranges; i++)
                {
                    (ulong start, uint count) = Range(r, i);
                    if (start >= blocks || count > blocks - start)
                    {
                        return Status(NvmeSpec.SctGeneric, ScLbaOutOfRange);
                    }
                }
                return 0;
            default:
                return Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidOpcode);
        }
    }

    /// <summary>Range <paramref name="i"/> of a Dataset Management command's data (16 bytes
    /// each: attributes, length in blocks, starting LBA).</summary>
    private static (ulong Start, uint Count) Range(NvmfRequest* r, uint i)
    {
        Span<byte> range = stackalloc byte[16];
        uint at = i * 16;
        int chunk = 0;
        uint chunkStart = 0;
        while (at >= chunkStart + (uint)r->Iov[chunk].Length)
        {
            chunkStart += (uint)r->Iov[chunk].Length;
            chunk++;
        }
        // Ranges never straddle chunks: chunks are multiples of 16 bytes.
        new ReadOnlySpan<byte>(r->Iov[chunk].Base + (at - chunkStart), 16).CopyTo(range);
        return (BinaryPrimitives.ReadUInt64LittleEndian(range[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(range[4..]));
    }

    /// <summary>Hands the command to the bdev; the thread's bdev_io pool being empty parks it
    /// until one is free (spdk_bdev_queue_io_wait).</summary>
    private void Launch(NvmfRequest* r, NvmfNamespace ns, BdevChannel ch)
    {
        BdevDesc desc = ns.Desc;
        ulong slba = r->Cmd.Cdw10 | (ulong)r->Cmd.Cdw11 << 32;
        ulong nlb = (r->Cmd.Cdw12 & 0xFFFF) + 1UL;
        int rc;
        switch (r->Cmd.Opcode)
        {
            case NvmeSpec.IoRead:
                rc = Submit(ch, desc, r, BdevIoType.Read, r->Iov, r->ChunkCount, slba, nlb);
                break;
            case NvmeSpec.IoWrite when r->Outstanding == 0:
                rc = Submit(ch, desc, r, BdevIoType.Write, r->Iov, r->ChunkCount, slba, nlb);
                break;
            case NvmeSpec.IoWrite: // FUA: the flush after the write
            case NvmeSpec.IoFlush:
                if (!desc.Bdev.IoTypeSupported(BdevIoType.Flush))
                {
                    Done(r, 0); // no volatile cache: nothing to flush
                    return;
                }
                rc = Submit(ch, desc, r, BdevIoType.Flush, null, 0, 0, desc.Bdev.BlockCount);
                break;
            case NvmeSpec.IoWriteZeroes:
                rc = Submit(ch, desc, r, BdevIoType.WriteZeroes, null, 0, slba, nlb);
                break;
            case NvmeSpec.IoCompare:
                // The bdev layer has no compare: read the range (SPDK emulates it the same way)
                // into DMA memory of the command's own, rare enough not to need a pool.
                r->CompareIov.Base = (byte*)NbEnvironment.Dma!.Alloc(r->Length, 4096, zero: false);
                if (r->CompareIov.Base == null)
                {
                    Failed(r, Status(NvmeSpec.SctGeneric, ScInternalError, dnr: false), 0);
                    return;
                }
                r->CompareIov.Length = r->Length;
                rc = Submit(ch, desc, r, BdevIoType.Read, &r->CompareIov, 1, slba, nlb);
                if (rc != 0)
                {
                    FreeCompareBuffer(r);
                }
                break;
            default: // Dataset Management: one range at a time
                uint ranges = (r->Cmd.Cdw10 & 0xFF) + 1;
                while (r->Received < ranges && Range(r, r->Received).Count == 0)
                {
                    r->Received++;
                }
                if ((r->Cmd.Cdw11 & DsmDeallocate) == 0 || r->Received >= ranges ||
                    !desc.Bdev.IoTypeSupported(BdevIoType.Unmap))
                {
                    Done(r, 0); // only deallocation does something; it is a hint
                    return;
                }
                (ulong start, uint count) = Range(r, r->Received);
                rc = Submit(ch, desc, r, BdevIoType.Unmap, null, 0, start, count);
                break;
        }
        if (rc == -Errno.ENOMEM)
        {
            Park(r);
            return;
        }
        if (rc != 0)
        {
            Done(r, rc);
        }
    }

    private static int Submit(BdevChannel ch, BdevDesc desc, NvmfRequest* r, BdevIoType type, Iovec* iov, int iovCount,
        ulong offset, ulong blocks) =>
        ch.Submit(desc, type, iov, iovCount, null, offset, blocks,
            (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnIoDone, (nint)r);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnIoDone(BdevIo* io, int status, void* arg) => IoDone(io, status, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void IoDone(BdevIo* io, int status, void* arg)
    {
        try
        {
            var r = (NvmfRequest*)arg;
            var c = (NvmfConnection?)GCHandle.FromIntPtr(r->Owner).Target;
            if (status != 0)
            {
                BdevIo.NvmeStatus(io, out uint cdw0, out int sct, out int sc);
                c!.Failed(r, (ushort)((sc << 1) | (sct << 9)), cdw0);
                return;
            }
            c!.Done(r, 0);
        }
        catch (Exception e)
        {
            var c = (NvmfConnection?)GCHandle.FromIntPtr(((NvmfRequest*)arg)->Owner).Target;
            Log.Error($"nvmf: completion on {c?.Describe()} failed, closing the connection: {e}");
            c?.Close("a completion failed");
            c?.MaybeFinish();
        }
    }

    /// <summary>A step of the command finished at the bdev (or had nothing to do): the next
    /// step (the flush after a FUA write, the next range to deallocate) or the response.</summary>
    private void Done(NvmfRequest* r, int rc)
    {
        if (r->Cmd.Opcode == NvmeSpec.IoCompare)
        {
            bool same = rc == 0 && SameAsRead(r);
            FreeCompareBuffer(r);
            if (rc == 0 && !same)
            {
                Failed(r, Status(NvmeSpec.SctMediaError, ScCompareFailure), 0);
                return;
            }
        }
        if (rc == 0 && !_socket.IsClosed && NextStep(r))
        {
            NvmfNamespace? ns = _subsystem!.Namespace(r->Cmd.Nsid);
            BdevChannel? ch = ns == null ? null : ChannelFor(ns);
            if (ch != null)
            {
                Launch(r, ns!, ch);
                return;
            }
            rc = -Errno.ENODEV;
        }
        if (rc != 0)
        {
            Failed(r, Status(NvmeSpec.SctGeneric, ScInternalError, dnr: false), 0);
            return;
        }
        _atBdev--;
        _group.CompletedIo++;
        Complete(r, 0, 0, r->Cmd.Opcode == NvmeSpec.IoRead ? r->Length : 0);
        MaybeFinish();
    }

    /// <summary>The host's data (the request's chunks) against what the bdev read.</summary>
    private static bool SameAsRead(NvmfRequest* r)
    {
        uint at = 0;
        for (int i = 0; i < r->ChunkCount && at < r->Length; i++)
        {
            uint n = Math.Min((uint)r->Iov[i].Length, r->Length - at);
            if (!new ReadOnlySpan<byte>(r->Iov[i].Base, (int)n).SequenceEqual(
                    new ReadOnlySpan<byte>(r->CompareIov.Base + at, (int)n)))
            {
                return false;
            }
            at += n;
        }
        return at == r->Length;
    }

    private static void FreeCompareBuffer(NvmfRequest* r)
    {
        if (r->CompareIov.Base != null)
        {
            NbEnvironment.Dma!.Free(r->CompareIov.Base);
            r->CompareIov.Base = null;
        }
    }

    private static bool NextStep(NvmfRequest* r)
    {
        switch (r->Cmd.Opcode)
        {
            case NvmeSpec.IoWrite when r->Outstanding == 0 && (r->Cmd.Cdw12 & Fua) != 0:
                r->Outstanding = 1;
                return true;
            case NvmeSpec.IoDatasetManagement when (r->Cmd.Cdw11 & DsmDeallocate) != 0:
                r->Received++;
                return r->Received < (r->Cmd.Cdw10 & 0xFF) + 1;
            default:
                return false;
        }
    }

    private void Failed(NvmfRequest* r, ushort status, uint cdw0)
    {
        _atBdev--;
        _group.CompletedIo++;
        Complete(r, status, cdw0);
        MaybeFinish();
    }

    /// <summary>This thread's channel of the namespace's bdev (taken on first use; a channel
    /// of a namespace since removed is kept until the connection ends, as I/O may hold it).</summary>
    private BdevChannel? ChannelFor(NvmfNamespace ns)
    {
        int i = (int)ns.Nsid - 1;
        _channels ??= new IoChannel?[_subsystem!.MaxNamespaces];
        _channelOf ??= new NvmfNamespace?[_subsystem!.MaxNamespaces];
        if (_channelOf[i] == ns)
        {
            return (BdevChannel)_channels[i]!.State!;
        }
        if (_channels[i] != null)
        {
            _retiredChannels.Add(_channels[i]!);
            _channels[i] = null;
            _channelOf[i] = null;
        }
        if (ns.Desc.GetIoChannel(out IoChannel? ch) != 0)
        {
            Log.Warn($"nvmf: {Describe()}: no I/O channel on bdev '{ns.Bdev.Name}': {LastError.Message}");
            return null;
        }
        _channels[i] = ch;
        _channelOf[i] = ns;
        return (BdevChannel)ch!.State!;
    }

    private void ReleaseChannels()
    {
        if (_channels != null)
        {
            foreach (IoChannel? ch in _channels)
            {
                ch?.Put();
            }
            _channels = null;
        }
        foreach (IoChannel ch in _retiredChannels)
        {
            ch.Put();
        }
        _retiredChannels.Clear();
    }

    // ------------------------------------------------------------------ waiting for a bdev_io

    private bool _ioWaitQueued;
    private bool _retryParked;
    private BdevChannel? _waitChannel;

    /// <summary>Waits in arrival order; a resumed command that finds the pool empty again
    /// goes to the back.</summary>
    private void Park(NvmfRequest* r)
    {
        _parked.Push(_buffers!, r);
        if (_ioWaitQueued || _retryParked)
        {
            return;
        }
        NvmfNamespace? ns = _subsystem!.Namespace(r->Cmd.Nsid);
        _waitChannel = ns == null ? null : ChannelFor(ns);
        nint self = GCHandle.ToIntPtr(_self);
        if (_waitChannel != null &&
            _waitChannel.QueueIoWait(self, (nint)(delegate* unmanaged[Cdecl]<void*, void>)&OnIoWait, self) == 0)
        {
            _ioWaitQueued = true;
            return;
        }
        _retryParked = true; // retried from the poll group's poller
        QueueFlush();
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnIoWait(void* arg) => IoWait(arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void IoWait(void* arg)
    {
        try
        {
            var c = (NvmfConnection)GCHandle.FromIntPtr((nint)arg).Target!;
            c._ioWaitQueued = false;
            c.ResumeParked();
        }
        catch (Exception e)
        {
            Log.Error($"nvmf: resuming commands that waited for a bdev_io failed: {e}");
        }
    }

    private void ResumeParked()
    {
        _retryParked = false;
        int n = 0;
        for (int i = _parked.Head; i >= 0; i = _buffers!.Slot(i)->Next)
        {
            n++;
        }
        while (n-- > 0 && !_parked.IsEmpty && !_ioWaitQueued && !_retryParked)
        {
            NvmfRequest* r = _parked.Pop(_buffers!);
            NvmfNamespace? ns = _subsystem!.Namespace(r->Cmd.Nsid);
            BdevChannel? ch = ns == null || _socket.IsClosed ? null : ChannelFor(ns);
            if (ch == null)
            {
                Failed(r, Status(NvmeSpec.SctGeneric, ScInternalError, dnr: false), 0);
                continue;
            }
            Launch(r, ns!, ch);
        }
        Flush();
        MaybeFinish();
    }
}
