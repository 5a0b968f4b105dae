using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Raid;

/// <summary>A raid bdev's per-thread state: this thread's channel of every base. A read or
/// write is split into pieces that never cross a strip or a base (<see cref="RaidLayout"/>),
/// each a child I/O over the host's own memory; unmap, flush and write zeroes go as one range
/// per base that holds part of them, a reset to every base. The parent completes once every
/// child is back, with the first child's failure if any. A vectored I/O whose pieces need more
/// iovec entries than its context holds goes down in batches.</summary>
internal sealed unsafe class RaidChannel : BdevModuleChannel
{
    private readonly RaidLayout _layout;
    private readonly BdevDesc[] _descs;
    private readonly IoChannel[] _ioChannels;
    private readonly BdevChannel[] _bases;
    private readonly uint _blockSize;

    public RaidChannel(RaidLayout layout, BdevDesc[] descs, IoChannel[] ioChannels, uint blockSize)
    {
        _layout = layout;
        _descs = descs;
        _ioChannels = ioChannels;
        _bases = new BdevChannel[ioChannels.Length];
        for (int i = 0; i < ioChannels.Length; i++)
        {
            _bases[i] = (BdevChannel)ioChannels[i].State!;
        }
        _blockSize = blockSize;
    }

    private static RaidIoContext* Context(BdevIo* io) => (RaidIoContext*)BdevIo.DriverContext(io);

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        RaidIoContext* ctx = Context(io);
        ctx->NextBlock = 0;
        ctx->InFlight = 0;
        ctx->Status = 0;
        ctx->IovUsed = 0;
        switch (io->Type)
        {
            case BdevIoType.Read:
            case BdevIoType.Write:
                IssuePieces(channel, io, ctx);
                break;
            default: // unmap, flush, write zeroes, reset
                IssueToBases(channel, io, ctx);
                break;
        }
    }

    /// <summary>Gives children every piece from NextBlock on, until the parent is covered or
    /// the iovec room is spent (the rest goes when this batch is back).</summary>
    private void IssuePieces(BdevChannel channel, BdevIo* io, RaidIoContext* ctx)
    {
        while (ctx->NextBlock < io->NumBlocks && ctx->Status == 0)
        {
            _layout.MapPiece(io->OffsetBlocks + ctx->NextBlock, io->NumBlocks - ctx->NextBlock, out int disk,
                out ulong pdLba, out ulong blocks);
            ulong skip = ctx->NextBlock * _blockSize;
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
                count = IovSlice.Take(io->Iovs, io->IovCount, skip, blocks * _blockSize, room,
                    RaidIoContext.IovSlots - ctx->IovUsed, _blockSize, out ulong taken);
                if (count == 0)
                {
                    if (ctx->InFlight > 0)
                    {
                        return; // the room comes back with this batch
                    }
                    ctx->Status = LastError.Set(Errno.EINVAL,
                        $"a block of the I/O spans more than {RaidIoContext.IovSlots} iovec entries");
                    break;
                }
                blocks = taken / _blockSize;
                buf = null;
                if (count == 1)
                {
                    buf = room[0].Base; // one entry: no room held
                    count = 0;
                }
                else
                {
                    iovs = room;
                    ctx->IovUsed += count;
                }
            }
            int rc = _bases[disk].SubmitChild(_descs[disk], io, io->Type, iovs, count, buf, pdLba, blocks);
            if (rc != 0)
            {
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

    private void IssueToBases(BdevChannel channel, BdevIo* io, RaidIoContext* ctx)
    {
        ctx->NextBlock = io->NumBlocks; // nothing is issued later
        for (int d = 0; d < _bases.Length && ctx->Status == 0; d++)
        {
            ulong pdLba = 0, blocks = 0;
            if (io->Type != BdevIoType.Reset &&
                !_layout.MapRange(d, io->OffsetBlocks, io->NumBlocks, out pdLba, out blocks))
            {
                continue;
            }
            int rc = _bases[d].SubmitChild(_descs[d], io, io->Type, null, 0, null, pdLba, blocks);
            if (rc != 0)
            {
                ctx->Status = rc;
                break;
            }
            ctx->InFlight++;
        }
        if (ctx->InFlight == 0)
        {
            channel.Complete(io, ctx->Status);
        }
    }

    public override void ChildDone(BdevChannel channel, BdevIo* parent, BdevIo* child)
    {
        RaidIoContext* ctx = Context(parent);
        Invariant.Assert(ctx->InFlight > 0, "a raid child came back that was never counted");
        ctx->InFlight--;
        if (child->Status != 0 && ctx->Status == 0)
        {
            ctx->Status = child->Status;
            parent->NvmeCdw0 = child->NvmeCdw0;
            parent->NvmeSct = child->NvmeSct;
            parent->NvmeSc = child->NvmeSc;
        }
        if (ctx->InFlight > 0)
        {
            return;
        }
        ctx->IovUsed = 0;
        if (ctx->Status == 0 && ctx->NextBlock < parent->NumBlocks)
        {
            IssuePieces(channel, parent, ctx);
            return;
        }
        channel.Complete(parent, ctx->Status);
    }

    public override void Destroy()
    {
        foreach (IoChannel c in _ioChannels)
        {
            c.Put();
        }
    }
}
