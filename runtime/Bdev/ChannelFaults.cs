using System;
using System.Runtime.CompilerServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>Fault injection on one channel: the rules of <see cref="Bdev.Faults"/> applied
/// at submission (before the backend sees the I/O) and at completion (after it answered),
/// and the I/O they hold — delayed until a time, or stuck until a reset, an abort or the
/// channel's release. Off the I/O path unless a rule exists.</summary>
internal sealed unsafe class ChannelFaults
{
    private readonly BdevChannel _channel;
    private readonly uint _blockSize;
    private IoQueue _delayed = new(IoQueueName.Delayed);
    private IoQueue _stuck = new(IoQueueName.Stuck);

    public ChannelFaults(BdevChannel channel)
    {
        _channel = channel;
        _blockSize = channel.Bdev.BlockSize;
    }

    public bool HoldsAny => !_delayed.IsEmpty || !_stuck.IsEmpty;
    public bool HasDelayed => !_delayed.IsEmpty;
    public bool HasStuck => !_stuck.IsEmpty;

    /// <summary>Submit-stage rules: the first that fires decides. True if the I/O was
    /// taken (failed, delayed or stuck) instead of going to the backend.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public bool AtSubmit(BdevIo* io, FaultRule[] rules)
    {
        long now = _channel.Thread.StampTicks;
        foreach (FaultRule r in rules)
        {
            if (!r.Fires(io, FaultStage.Submit, now))
            {
                continue;
            }
            io->Flags |= BdevIo.FlagFaultApplied;
            switch (r.Method)
            {
                case FaultMethod.Delay:
                case FaultMethod.Timeout:
                    if (r.Method == FaultMethod.Delay)
                    {
                        io->Flags |= BdevIo.FlagDelayedSubmit; // the backend has not seen it yet
                    }
                    Hold(io, r, now);
                    return true;
                default:
                    SetStatus(io, r);
                    _channel.Complete(io, io->Status);
                    return true;
            }
        }
        return false;
    }

    /// <summary>Completion-stage rules. True if the I/O is now held (delay, timeout).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public bool AtCompletion(BdevIo* io, FaultRule[] rules, long now)
    {
        if (io->Type == BdevIoType.Reset)
        {
            return false;
        }
        foreach (FaultRule r in rules)
        {
            if (!r.Fires(io, FaultStage.Completion, now))
            {
                continue;
            }
            io->Flags |= BdevIo.FlagFaultApplied;
            switch (r.Method)
            {
                case FaultMethod.Delay:
                case FaultMethod.Timeout:
                    Hold(io, r, now);
                    return true;
                case FaultMethod.Data:
                    if (io->Status == 0)
                    {
                        CorruptReadData(io);
                    }
                    return false;
                default:
                    SetStatus(io, r);
                    return false;
            }
        }
        return false;
    }

    /// <summary>A delay rule holds the I/O until its time; a timeout rule for good.</summary>
    private void Hold(BdevIo* io, FaultRule r, long now)
    {
        if (r.Method == FaultMethod.Delay)
        {
            io->DelayUntil = now + r.DelayTicks;
            _delayed.Push(io);
        }
        else
        {
            _stuck.Push(io);
        }
        _channel.MarkSlowWork();
    }

    private static void SetStatus(BdevIo* io, FaultRule r)
    {
        if (r.Method == FaultMethod.NvmeStatus)
        {
            io->NvmeSct = r.Sct;
            io->NvmeSc = r.Sc;
            io->Status = -Errno.EIO;
        }
        else
        {
            io->Status = -r.Errno;
        }
    }

    /// <summary>Flips every bit of the first 8 bytes of each block read, so a checker
    /// comparing against what was written always notices. Blocks are counted across the
    /// iovecs: a block may start anywhere in one, and its first 8 bytes may span several.</summary>
    private void CorruptReadData(BdevIo* io)
    {
        ulong bs = _blockSize;
        ulong pos = 0; // offset in the I/O of the current iovec's first byte
        for (int i = 0; i < io->IovCount; i++)
        {
            byte* p = io->Iovs[i].Base;
            ulong len = io->Iovs[i].Length;
            ulong inBlock = pos % bs;
            // The first byte of this iovec that is among the first 8 of a block.
            for (ulong k = inBlock < 8 ? 0 : bs - inBlock; k < len;)
            {
                ulong o = (pos + k) % bs; // < 8
                ulong n = Math.Min(8 - o, len - k);
                for (ulong j = 0; j < n; j++)
                {
                    p[k + j] ^= 0xFF;
                }
                k += n + (bs - 8); // to the next block's start (past len if this iovec ended)
            }
            pos += len;
        }
    }

    /// <summary>Moves on every delayed I/O whose time has come (or that is aborted): to the
    /// backend if it was held before it, else to its completion.</summary>
    public int ProgressDelayed(long now)
    {
        IoQueue all = _delayed.TakeAll();
        int n = 0;
        BdevIo* io;
        while ((io = all.Pop()) != null)
        {
            bool abort = (io->Flags & BdevIo.FlagAbort) != 0;
            if (!abort && io->DelayUntil > now)
            {
                _delayed.Push(io);
                continue;
            }
            n++;
            if (abort)
            {
                io->Status = -Errno.ETIMEDOUT;
                _channel.Finish(io, now);
            }
            else if ((io->Flags & BdevIo.FlagDelayedSubmit) != 0)
            {
                io->Flags &= unchecked((byte)~BdevIo.FlagDelayedSubmit);
                _channel.SubmitToModule(io);
            }
            else
            {
                _channel.Finish(io, now);
            }
        }
        return n;
    }

    /// <summary>Completes what the timeout rules hold: every one with
    /// <paramref name="status"/>, or (<paramref name="abortedOnly"/>) only those a
    /// descriptor timeout aborted, with -ETIMEDOUT.</summary>
    public int ReleaseStuck(int status, bool abortedOnly)
    {
        IoQueue all = _stuck.TakeAll();
        long now = _channel.Thread.StampTicks;
        int n = 0;
        BdevIo* io;
        while ((io = all.Pop()) != null)
        {
            bool abort = (io->Flags & BdevIo.FlagAbort) != 0;
            if (abortedOnly && !abort)
            {
                _stuck.Push(io);
                continue;
            }
            io->Status = abort ? -Errno.ETIMEDOUT : status;
            _channel.Finish(io, now);
            n++;
        }
        return n;
    }
}
