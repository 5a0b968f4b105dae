using System;
using System.Threading;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Modules.Raid;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>A volume's per-thread state: this thread's channel of the store's base. A read or
/// write goes down in pieces that never cross a cluster, each mapped through the volume's cluster
/// map: a cluster of the volume (or, for reads, of a snapshot up its chain) is a child I/O at that
/// cluster of the base over the host's own memory; a read of a cluster no blob of the chain has is
/// zeros, filled here. A write to a cluster the volume does not own yet asks the store's metadata
/// thread for one (<see cref="LvolAllocator"/>) and goes on once it is answered. No allocation per
/// I/O: the state lives in the I/O's driver context.</summary>
internal sealed unsafe class LvolChannel : BdevModuleChannel
{
    private readonly LvolBdev _volume;
    private readonly BdevDesc _baseDesc;
    private readonly IoChannel _baseIoChannel;
    private readonly BdevChannel _base;
    private readonly ulong _clusterBytes;
    private readonly uint _blockSize;
    private readonly uint _baseBlockSize;

    public LvolChannel(LvolBdev volume, BdevDesc baseDesc, IoChannel baseChannel)
    {
        _volume = volume;
        _baseDesc = baseDesc;
        _baseIoChannel = baseChannel;
        _base = (BdevChannel)baseChannel.State!;
        _clusterBytes = volume.Store.ClusterSize;
        _blockSize = volume.BlockSize;
        _baseBlockSize = baseDesc.Bdev.BlockSize;
    }

    public LightweightThread Thread => _baseIoChannel.Thread;

    public LvolBdev Volume => _volume;

    public static LvolIoContext* Context(BdevIo* io) => (LvolIoContext*)BdevIo.DriverContext(io);

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        LvolIoContext* ctx = Context(io);
        ctx->NextBlock = 0;
        ctx->InFlight = 0;
        ctx->Status = 0;
        ctx->IovUsed = 0;
        ctx->Release = LvolIoContext.ReleaseNone; // the context is the previous I/O's memory
        switch (io->Type)
        {
            case BdevIoType.Read:
                // Counted before any map is looked at, until it completes: a cluster taken away
                // meanwhile is freed only once this read is back (LvolReadDrain).
                ctx->ReadPhase = _volume.Blob.EnterRead();
                IssuePieces(channel, io, ctx);
                break;
            case BdevIoType.Write:
                if (_volume.Blob.IsReadOnly)
                {
                    channel.Complete(io, LastError.Set(Errno.EPERM, $"volume '{_volume.Name}' is read-only"));
                    return;
                }
                IssuePieces(channel, io, ctx);
                break;
            case BdevIoType.Unmap:
            case BdevIoType.WriteZeroes:
                if (_volume.Blob.IsReadOnly)
                {
                    channel.Complete(io, LastError.Set(Errno.EPERM, $"volume '{_volume.Name}' is read-only"));
                    return;
                }
                ZeroPieces(channel, io, ctx);
                break;
            case BdevIoType.Flush:
                ctx->NextBlock = io->NumBlocks;
                Forward(channel, io, ctx, BdevIoType.Flush, 0, _baseDesc.Bdev.BlockCount);
                break;
            default:
                channel.Complete(io, -Errno.ENOTSUP);
                break;
        }
    }

    private void Forward(BdevChannel channel, BdevIo* io, LvolIoContext* ctx, BdevIoType type, ulong at, ulong n)
    {
        int rc = _base.SubmitChild(_baseDesc, io, type, null, 0, null, at, n);
        if (rc != 0)
        {
            channel.Complete(io, rc);
            return;
        }
        ctx->InFlight++;
    }

    /// <summary>Gives children every piece from NextBlock on, until the parent is covered, the
    /// iovec room is spent, or a piece waits for its cluster (the rest goes when those are back).</summary>
    private void IssuePieces(BdevChannel channel, BdevIo* io, LvolIoContext* ctx)
    {
        bool write = io->Type == BdevIoType.Write;
        uint[] own = _volume.Blob.Clusters;
        while (ctx->NextBlock < io->NumBlocks && ctx->Status == 0)
        {
            ulong byteAt = (io->OffsetBlocks + ctx->NextBlock) * _blockSize;
            ulong cluster = byteAt / _clusterBytes;
            ulong inCluster = byteAt % _clusterBytes;
            ulong blocks = Math.Min(io->NumBlocks - ctx->NextBlock, (_clusterBytes - inCluster) / _blockSize);
            if (write && cluster >= (ulong)own.Length)
            {
                // A shrink published the shorter map before the bdev's new size: past the end now.
                ctx->Status = -Errno.EINVAL;
                break;
            }
            uint device = write ? Admit(own[cluster]) : _volume.Blob.Resolve((long)cluster);
            if (device == 0 && write)
            {
                // Not the volume's own yet: one request, then this piece again once it is answered.
                ctx->Cluster = (long)cluster;
                ctx->InFlight++;
                int rc = _volume.Store.Allocator.Request(this, io);
                if (rc != 0)
                {
                    ctx->InFlight--;
                    ctx->Status = rc;
                }
                break;
            }
            ulong skip = ctx->NextBlock * _blockSize;
            ulong bytes = blocks * _blockSize;
            if (device == 0)
            {
                ZeroFill(io, skip, bytes);
                ctx->NextBlock += blocks;
                continue;
            }
            if (!Issue(io, ctx, device, inCluster, skip, bytes, out ulong taken))
            {
                if (write)
                {
                    Interlocked.Decrement(ref _volume.Blob.WritesInFlight);
                }
                if (ctx->InFlight > 0)
                {
                    return; // the iovec room comes back with this batch
                }
                break;
            }
            ctx->NextBlock += taken / _blockSize;
        }
        if (ctx->InFlight == 0)
        {
            Finish(channel, io, ctx);
        }
    }

    /// <summary>Completes a read or write; a read stops holding the clusters it may have read.</summary>
    private void Finish(BdevChannel channel, BdevIo* io, LvolIoContext* ctx)
    {
        if (io->Type == BdevIoType.Read)
        {
            _volume.Blob.ExitRead(ctx->ReadPhase);
        }
        channel.Complete(io, ctx->Status);
    }

    /// <summary>Unmap and write zeroes, piece by piece (a piece never crosses a cluster): a whole
    /// cluster a thin volume owns goes back to the store (for write zeroes only when no snapshot
    /// would show through); any other cluster it owns is zeroed on the base; one it does not own is
    /// left as it is (unmap; or write zeroes where it reads zeros), or, for write zeroes on a clone,
    /// taken (copy-on-write) and then zeroed.</summary>
    private void ZeroPieces(BdevChannel channel, BdevIo* io, LvolIoContext* ctx)
    {
        bool unmap = io->Type == BdevIoType.Unmap;
        LvolBlob blob = _volume.Blob;
        while (ctx->NextBlock < io->NumBlocks && ctx->Status == 0)
        {
            uint[] own = blob.Clusters;
            ulong byteAt = (io->OffsetBlocks + ctx->NextBlock) * _blockSize;
            ulong cluster = byteAt / _clusterBytes;
            ulong inCluster = byteAt % _clusterBytes;
            ulong blocks = Math.Min(io->NumBlocks - ctx->NextBlock, (_clusterBytes - inCluster) / _blockSize);
            if (cluster >= (ulong)own.Length)
            {
                ctx->Status = -Errno.EINVAL;
                break;
            }
            uint owned = own[cluster];
            if (owned == 0 && (unmap || blob.Resolve((long)cluster) == 0))
            {
                ctx->NextBlock += blocks;
                continue;
            }
            bool whole = inCluster == 0 && blocks * _blockSize == _clusterBytes;
            if (owned != 0 && whole && blob.IsThin && ctx->Release != LvolIoContext.ReleaseKept &&
                (unmap || blob.Parent == null))
            {
                if (ctx->InFlight > 0)
                {
                    return; // this I/O's own zeroing in flight would keep the volume from freezing
                }
                if (!Ask(ctx, io, cluster, LvolIoContext.ReleaseAsked))
                {
                    break;
                }
                return;
            }
            uint device = Admit(owned);
            if (device == 0)
            {
                // a clone's cluster to take first, or the volume is frozen: the allocator's way
                if (!Ask(ctx, io, cluster, LvolIoContext.ReleaseNone))
                {
                    break;
                }
                return;
            }
            ctx->Release = LvolIoContext.ReleaseNone;
            ulong at = ((device * _clusterBytes) + inCluster) / _baseBlockSize;
            int rc = _base.SubmitChild(_baseDesc, io, BdevIoType.WriteZeroes, null, 0, null, at,
                blocks * _blockSize / _baseBlockSize);
            if (rc != 0)
            {
                Interlocked.Decrement(ref blob.WritesInFlight);
                ctx->Status = rc;
                break;
            }
            ctx->InFlight++;
            ctx->NextBlock += blocks;
        }
        if (ctx->InFlight == 0)
        {
            channel.Complete(io, ctx->Status);
        }
    }

    /// <summary>An allocation (or, with <see cref="LvolIoContext.ReleaseAsked"/>, release) request for
    /// <paramref name="cluster"/>; false (the failure in Status) when it cannot be sent.</summary>
    private bool Ask(LvolIoContext* ctx, BdevIo* io, ulong cluster, int release)
    {
        ctx->Cluster = (long)cluster;
        ctx->Release = release;
        ctx->InFlight++;
        int rc = _volume.Store.Allocator.Request(this, io);
        if (rc != 0)
        {
            ctx->InFlight--;
            ctx->Status = rc;
            ctx->Release = LvolIoContext.ReleaseNone;
            return false;
        }
        return true;
    }

    private static bool CountsAsWrite(BdevIoType type) =>
        type is BdevIoType.Write or BdevIoType.WriteZeroes or BdevIoType.Unmap;

    /// <summary>A write to device cluster <paramref name="device"/> is counted in flight, unless the
    /// volume is frozen (a snapshot is being taken): then it goes the allocator's way (0), and the
    /// metadata thread answers it once the snapshot is done. Counted before the flag is read, and
    /// the snapshot sets the flag before it reads the count (both full fences): one of the two
    /// sees the other, so no write slips past a snapshot unseen.</summary>
    private uint Admit(uint device)
    {
        if (device == 0)
        {
            return 0;
        }
        LvolBlob blob = _volume.Blob;
        Interlocked.Increment(ref blob.WritesInFlight);
        if (Volatile.Read(ref blob.Frozen))
        {
            Interlocked.Decrement(ref blob.WritesInFlight);
            return 0;
        }
        return device;
    }

    /// <summary>One child at <paramref name="inCluster"/> of device cluster <paramref name="device"/>.
    /// False when the iovec room is spent (or a failure is in <see cref="LvolIoContext.Status"/>).</summary>
    private bool Issue(BdevIo* io, LvolIoContext* ctx, uint device, ulong inCluster, ulong skip, ulong bytes,
        out ulong taken)
    {
        taken = bytes;
        Iovec* iovs = null;
        int count = 0;
        byte* buf;
        if (io->IovCount == 1)
        {
            buf = io->Iovs[0].Base + skip;
        }
        else
        {
            Iovec* room = (Iovec*)ctx->IovBytes + ctx->IovUsed;
            count = IovSlice.Take(io->Iovs, io->IovCount, skip, bytes, room,
                LvolIoContext.IovSlots - ctx->IovUsed, _blockSize, out taken);
            if (count == 0)
            {
                if (ctx->InFlight == 0)
                {
                    ctx->Status = LastError.Set(Errno.EINVAL,
                        $"a block of the I/O spans more than {LvolIoContext.IovSlots} iovec entries");
                }
                return false;
            }
            buf = null;
            if (count == 1)
            {
                buf = room[0].Base;
                count = 0;
            }
            else
            {
                iovs = room;
                ctx->IovUsed += count;
            }
        }
        ulong at = ((device * _clusterBytes) + inCluster) / _baseBlockSize;
        int rc = _base.SubmitChild(_baseDesc, io, io->Type, iovs, count, buf, at, taken / _baseBlockSize);
        if (rc != 0)
        {
            ctx->Status = rc;
            return false;
        }
        ctx->InFlight++;
        return true;
    }

    private static void ZeroFill(BdevIo* io, ulong skip, ulong bytes)
    {
        for (int i = 0; i < io->IovCount && bytes > 0; i++)
        {
            ulong len = io->Iovs[i].Length;
            if (skip >= len)
            {
                skip -= len;
                continue;
            }
            ulong n = Math.Min(len - skip, bytes);
            new Span<byte>(io->Iovs[i].Base + skip, checked((int)n)).Clear();
            bytes -= n;
            skip = 0;
        }
    }

    public override void ChildDone(BdevChannel channel, BdevIo* parent, BdevIo* child)
    {
        LvolIoContext* ctx = Context(parent);
        Invariant.Assert(ctx->InFlight > 0, "an lvol child came back that was never counted");
        if (CountsAsWrite(parent->Type))
        {
            Interlocked.Decrement(ref _volume.Blob.WritesInFlight);
        }
        if (child->Status != 0 && ctx->Status == 0)
        {
            ctx->Status = child->Status;
            parent->NvmeCdw0 = child->NvmeCdw0;
            parent->NvmeSct = child->NvmeSct;
            parent->NvmeSc = child->NvmeSc;
        }
        PieceDone(channel, parent, ctx);
    }

    /// <summary>The store's answer to an allocation request, on this channel's thread:
    /// 0 (the cluster is the volume's now) or -errno (-ENOSPC when the store is full).</summary>
    public void ClusterReady(BdevIo* io, int status)
    {
        LvolIoContext* ctx = Context(io);
        Invariant.Assert(ctx->InFlight > 0, "an allocation answer for an I/O that asked none");
        if (ctx->Release == LvolIoContext.ReleaseAsked)
        {
            // released: the whole cluster is done; kept: the piece zeroes it in place next
            ctx->Release = status == LvolAllocator.KeptCluster ? LvolIoContext.ReleaseKept : LvolIoContext.ReleaseNone;
            if (status == 0)
            {
                ctx->NextBlock += _clusterBytes / _blockSize;
            }
            status = status == LvolAllocator.KeptCluster ? 0 : status;
        }
        if (status != 0 && ctx->Status == 0)
        {
            ctx->Status = status;
        }
        PieceDone(BdevChannel.FromIo(io), io, ctx);
    }

    private void PieceDone(BdevChannel channel, BdevIo* parent, LvolIoContext* ctx)
    {
        if (--ctx->InFlight > 0)
        {
            return;
        }
        ctx->IovUsed = 0;
        if (ctx->Status == 0 && ctx->NextBlock < parent->NumBlocks)
        {
            if (parent->Type is BdevIoType.Unmap or BdevIoType.WriteZeroes)
            {
                ZeroPieces(channel, parent, ctx);
            }
            else
            {
                IssuePieces(channel, parent, ctx);
            }
            return;
        }
        Finish(channel, parent, ctx);
    }

    public override void Destroy() => _baseIoChannel.Put();
}
