using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;

namespace NativeBdev.Modules.Nvme;

/// <summary>The NVMe driver's state in a BdevIo's driver tail.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmeIoContext
{
    public ulong NextByte;     // the first byte no command has been built for yet
    public ulong TotalBytes;   // what the I/O covers (0: one command without data range)
    public int Children;       // commands in flight
    public int Status;         // the first error
    public byte Started;       // a zero-length command was submitted
}

/// <summary>A thread's I/O queue pair for one namespace. Submit builds the commands
/// (split at the controller's maximum transfer, PRPs from the DMA pool's translation) and
/// places them in the submission ring; Poll reaps the completion ring, resubmits what
/// waited for a free command slot and writes each doorbell once. The queue is created on
/// the controller by its admin thread, asynchronously: until then, and while the
/// controller resets, I/O waits on the pending list.</summary>
internal sealed unsafe class NvmeChannel : BdevModuleChannel, INvmeQueueOwner
{
    private const int ReapBatch = 256;

    private readonly NvmeBdev _bdev;
    private readonly NvmeController _ctrl;
    private readonly BdevChannel _channel;
    private readonly uint _nsid;
    private readonly uint _blockSize;
    private readonly ulong _maxTransfer;
    private NvmeQueuePair _qp = null!;
    private DmaPool _pool = null!;
    private int _connected;
    private int _ackedGeneration;
    private bool _reclaiming;
    private bool _needRing;
    private IoQueue _pending = new(IoQueueName.Pending); // waiting for a command slot or the queue
    private long _nextScan;

    public NvmeChannel(NvmeBdev bdev, BdevChannel channel)
    {
        _bdev = bdev;
        _ctrl = bdev.Controller;
        _channel = channel;
        _nsid = bdev.Nsid;
        _blockSize = bdev.BlockSize;
        _maxTransfer = _ctrl.MaxTransferBytes / _blockSize * _blockSize;
    }

    public NvmeQueuePair Queue => _qp;

    public bool Connected
    {
        get => Volatile.Read(ref _connected) != 0;
        set => Volatile.Write(ref _connected, value ? 1 : 0);
    }

    public int AckedGeneration => Volatile.Read(ref _ackedGeneration);

    public int Init()
    {
        _pool = NbEnvironment.Dma!;
        _ackedGeneration = _ctrl.Generation;
        int rc = _ctrl.AddQueueOwner(this, out ushort qid);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = NvmeQueuePair.Create(qid, _ctrl.IoQueueEntries, _ctrl.Function.Bar0, _ctrl.DoorbellStride, out NvmeQueuePair? qp)) != 0)
        {
            _ctrl.ReleaseQueueId(qid);
            return rc;
        }
        _qp = qp!;
        _ctrl.Connect(this);
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static NvmeIoContext* Context(BdevIo* io) => (NvmeIoContext*)BdevIo.DriverContext(io);

    // ------------------------------------------------------------------ submission

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        NvmeIoContext* ctx = Context(io);
        ctx->NextByte = 0;
        ctx->Children = 0;
        ctx->Status = 0;
        ctx->Started = 0;
        switch (io->Type)
        {
            case BdevIoType.Read:
            case BdevIoType.Write:
            case BdevIoType.WriteZeroes:
            case BdevIoType.Unmap:
                ctx->TotalBytes = io->NumBlocks * _blockSize;
                break;
            case BdevIoType.Reset:
                SubmitReset(io);
                return;
            case BdevIoType.NvmeAdmin:
                SubmitAdmin(io);
                return;
            default: // Flush, NvmeIo: one command
                ctx->TotalBytes = 0;
                break;
        }
        Start(io);
    }

    /// <summary>Builds and places commands for the rest of the I/O. An I/O that runs out of
    /// command slots (or finds the queue not connected) goes on the pending list and
    /// continues from where it stopped.</summary>
    private void Start(BdevIo* io)
    {
        NvmeIoContext* ctx = Context(io);
        if (!Connected || _reclaiming)
        {
            if (_ctrl.State == NvmeControllerState.Failed)
            {
                ctx->Status = Failed();
                FinishIfDone(io);
                return;
            }
            AddPending(io);
            return;
        }
        long now = _channel.Thread.StampTicks;
        while (ctx->NextByte < ctx->TotalBytes || (ctx->TotalBytes == 0 && ctx->Started == 0))
        {
            NvmeTracker* t = _qp.TryAllocate();
            if (t == null)
            {
                AddPending(io);
                return;
            }
            var cmd = default(NvmeCommand);
            int rc = BuildCommand(io, ctx, t, ref cmd);
            if (rc != 0)
            {
                _qp.Free(t);
                ctx->Status = rc;
                break;
            }
            t->Request = io;
            _qp.Submit(t, &cmd, now);
            ctx->Children++;
            _needRing = true;
        }
        FinishIfDone(io);
    }

    /// <summary>One command for the next part of the I/O; advances NextByte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int BuildCommand(BdevIo* io, NvmeIoContext* ctx, NvmeTracker* t, ref NvmeCommand cmd)
    {
        ulong remaining = ctx->TotalBytes - ctx->NextByte;
        ulong slba = io->OffsetBlocks + ctx->NextByte / _blockSize;
        cmd.Nsid = _nsid;
        cmd.Cdw10 = (uint)slba;
        cmd.Cdw11 = (uint)(slba >> 32);
        switch (io->Type)
        {
            case BdevIoType.Read:
            case BdevIoType.Write:
            {
                ulong n = remaining < _maxTransfer ? remaining : _maxTransfer;
                cmd.Opcode = io->Type == BdevIoType.Read ? NvmeSpec.IoRead : NvmeSpec.IoWrite;
                cmd.Cdw12 = (uint)(n / _blockSize - 1);
                int rc = NvmePrp.Build(t, _pool, io->Iovs, io->IovCount, ctx->NextByte, n, ref cmd);
                ctx->NextByte += n;
                return rc;
            }
            case BdevIoType.WriteZeroes:
            {
                ulong blocks = remaining / _blockSize;
                if (blocks > 65536)
                {
                    blocks = 65536;
                }
                cmd.Opcode = NvmeSpec.IoWriteZeroes;
                cmd.Cdw12 = (uint)(blocks - 1);
                ctx->NextByte += blocks * _blockSize;
                return 0;
            }
            case BdevIoType.Unmap:
            {
                // One deallocate range per command, in the tracker's page.
                ulong blocks = remaining / _blockSize;
                if (blocks > 1u << 31)
                {
                    blocks = 1u << 31;
                }
                t->PrpList[0] = blocks << 32;
                t->PrpList[1] = slba;
                cmd.Opcode = NvmeSpec.IoDatasetManagement;
                cmd.Cdw10 = 0;       // one range
                cmd.Cdw11 = 1u << 2; // attribute: deallocate
                cmd.Prp1 = t->PrpListIova;
                ctx->NextByte += blocks * _blockSize;
                return 0;
            }
            case BdevIoType.Flush:
                cmd.Opcode = NvmeSpec.IoFlush;
                cmd.Cdw10 = cmd.Cdw11 = 0;
                ctx->Started = 1;
                return 0;
            default: // NvmeIo passthrough: the caller's command, this namespace, our PRPs
            {
                cmd = *(NvmeCommand*)io->NvmeCmd;
                cmd.Nsid = _nsid;
                cmd.Prp1 = cmd.Prp2 = cmd.Mptr = 0; // the driver's data pointer, never the caller's
                ctx->Started = 1;
                Iovec* iov = &io->InlineIov;
                return iov->Length == 0 ? 0 : NvmePrp.Build(t, iov->Base, (int)iov->Length, ref cmd);
            }
        }
    }

    private void AddPending(BdevIo* io)
    {
        if (io->Queue != IoQueueName.Pending)
        {
            _pending.Push(io);
        }
    }

    /// <summary>Restarts pending I/O in order while command slots last.</summary>
    private int RunPending()
    {
        int n = 0;
        while (!_pending.IsEmpty && _qp.HasFreeTracker && Connected)
        {
            BdevIo* io = _pending.Pop();
            NvmeIoContext* ctx = Context(io);
            n++;
            if (ctx->Status != 0)
            {
                FinishIfDone(io);
                continue;
            }
            Start(io);
        }
        return n;
    }

    /// <summary>Completes the I/O once no command of it is in flight and it is finished or failed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void FinishIfDone(BdevIo* io)
    {
        NvmeIoContext* ctx = Context(io);
        if (ctx->Children != 0 || io->Queue == IoQueueName.Pending)
        {
            return;
        }
        if (ctx->Status == 0 && (ctx->NextByte < ctx->TotalBytes || (ctx->TotalBytes == 0 && ctx->Started == 0)))
        {
            return;
        }
        _channel.Complete(io, ctx->Status);
    }

    private int Failed() => LastError.Set(Errno.EIO, $"nvme {_ctrl.Address} has failed");

    // ------------------------------------------------------------------ admin-thread work

    private void SubmitReset(BdevIo* io)
    {
        nint at = (nint)io;
        int rc = _ctrl.RequestReset($"bdev reset of '{_bdev.Name}'", r => PostBack((BdevIo*)at, r.Status, default));
        if (rc != 0)
        {
            _channel.Complete(io, rc);
        }
    }

    private void SubmitAdmin(BdevIo* io)
    {
        Iovec* iov = &io->InlineIov;
        nint at = (nint)io;
        _ctrl.Passthru(*(NvmeCommand*)io->NvmeCmd, iov->Base, (int)iov->Length, r => PostBack((BdevIo*)at, r.Status, r.Completion));
    }

    /// <summary>Runs on the admin thread: hands the outcome to this channel's thread.</summary>
    private void PostBack(BdevIo* io, int status, NvmeCompletion cpl)
    {
        io->NvmeCdw0 = cpl.Dw0;
        io->NvmeSct = (ushort)cpl.Sct;
        io->NvmeSc = (ushort)cpl.Sc;
        Context(io)->Status = status;
        if (_channel.Thread.Send(&CompleteOnThread, this, (nint)io) != 0)
        {
            Log.Error($"bdev '{_bdev.Name}': admin completion lost: thread '{_channel.Thread.Name}' takes no messages");
        }
    }

    private static void CompleteOnThread(object? self, nint io)
    {
        var ch = (NvmeChannel)self!;
        ch._channel.Complete((BdevIo*)io, Context((BdevIo*)io)->Status);
    }

    // ------------------------------------------------------------------ completion

    private struct Completer : INvmeCompletionHandler
    {
        public NvmeChannel Channel;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Complete(NvmeTracker* t, in NvmeCompletion cpl) => Channel.OnCompletion(t, cpl);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void OnCompletion(NvmeTracker* t, in NvmeCompletion cpl)
    {
        var io = (BdevIo*)t->Request;
        _qp.Free(t);
        NvmeIoContext* ctx = Context(io);
        ctx->Children--;
        if (io->Type == BdevIoType.NvmeIo)
        {
            io->NvmeCdw0 = cpl.Dw0;
        }
        if (!cpl.Success)
        {
            CommandFailed(io, ctx, cpl);
        }
        if (ctx->Children == 0 && ctx->Status == 0 && ctx->NextByte < ctx->TotalBytes &&
            io->Queue != IoQueueName.Pending)
        {
            Start(io); // a large I/O whose next part waited for a slot
            return;
        }
        FinishIfDone(io);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CommandFailed(BdevIo* io, NvmeIoContext* ctx, in NvmeCompletion cpl)
    {
        io->NvmeSct = (ushort)cpl.Sct;
        io->NvmeSc = (ushort)cpl.Sc;
        if (ctx->Status == 0)
        {
            ctx->Status = cpl.Sct == NvmeSpec.SctGeneric && cpl.Sc == NvmeSpec.ScAbortedByRequest ? -Errno.ETIMEDOUT : -Errno.EIO;
        }
    }

    public override bool NeedsPoller => true;

    public override int Poll(BdevChannel channel)
    {
        int generation = _ctrl.Generation;
        if (generation != _ackedGeneration)
        {
            return Reclaim(generation);
        }
        int n = 0;
        if (_qp.Outstanding > 0)
        {
            var c = new Completer { Channel = this };
            n = _qp.Reap(ref c, ReapBatch);
        }
        if (!_pending.IsEmpty)
        {
            n += Connected ? RunPending() : FailPendingIfFailed();
        }
        if (_needRing && Connected)
        {
            // Not once a reset has disconnected the queue: the controller may be disabled
            // already, and the queue is re-created (and its doorbell cleared) before reuse.
            _needRing = false;
            _qp.RingSubmissions();
        }
        if (_qp.Outstanding > 0 && _ctrl.CommandTimeoutTicks > 0)
        {
            long now = _channel.Thread.StampTicks;
            if (now >= _nextScan)
            {
                _nextScan = now + Ticks.Hz / 10;
                ScanTimeouts(now);
            }
        }
        return n;
    }

    /// <summary>Every 100 ms: a command overdue gets an Abort; still there a timeout later,
    /// the controller is reset (which resubmits it).</summary>
    private void ScanTimeouts(long now)
    {
        long limit = _ctrl.CommandTimeoutTicks;
        for (int i = 0; i < _qp.Entries - 1; i++)
        {
            NvmeTracker* t = _qp.Tracker(i);
            if (t->Active == 0 || now - t->SubmitTicks < limit)
            {
                continue;
            }
            if (t->AbortTicks == 0)
            {
                t->AbortTicks = now;
                Log.Warn($"bdev '{_bdev.Name}': command {t->Cid} on queue {_qp.Id} timed out after {Ticks.ToMicroseconds(now - t->SubmitTicks) / 1000:F0} ms: aborting it");
                _ctrl.RequestAbort(_qp.Id, t->Cid);
            }
            else if (now - t->AbortTicks >= limit)
            {
                _ctrl.RequestResetOnce($"command {t->Cid} on queue {_qp.Id} did not complete after an abort");
                return;
            }
        }
    }

    /// <summary>The controller was disabled for a reset (or failed): completions it posted
    /// before are handled, every other command in flight goes back on the pending list to
    /// be submitted again in full, and the emptied queue is acknowledged to the admin thread.</summary>
    private int Reclaim(int generation)
    {
        _reclaiming = true;
        var c = new Completer { Channel = this };
        int n = _qp.Reap(ref c, _qp.Entries, ringDoorbell: false);
        for (int i = 0; i < _qp.Entries - 1; i++)
        {
            NvmeTracker* t = _qp.Tracker(i);
            if (t->Active == 0)
            {
                continue;
            }
            var io = (BdevIo*)t->Request;
            _qp.Free(t);
            NvmeIoContext* ctx = Context(io);
            ctx->Children--;
            n++;
            if (io->Type == BdevIoType.NvmeIo)
            {
                // A passthrough command may not be idempotent (reservations, zone append):
                // reported aborted, not run twice.
                io->NvmeSct = NvmeSpec.SctGeneric;
                io->NvmeSc = NvmeSpec.ScAbortedSqDeletion;
                ctx->Status = -Errno.EIO;
                FinishIfDone(io);
                continue;
            }
            ctx->NextByte = 0; // reads and writes are run again in full
            ctx->Started = 0;
            AddPending(io);
        }
        _qp.Reset();
        _needRing = false;
        _reclaiming = false;
        Volatile.Write(ref _ackedGeneration, generation);
        FailPendingIfFailed();
        return n;
    }

    private int FailPendingIfFailed()
    {
        if (_ctrl.State != NvmeControllerState.Failed)
        {
            return 0;
        }
        int n = 0;
        BdevIo* io;
        while ((io = _pending.Pop()) != null)
        {
            NvmeIoContext* ctx = Context(io);
            if (ctx->Status == 0)
            {
                ctx->Status = -Errno.EIO;
            }
            FinishIfDone(io);
            n++;
        }
        return n;
    }

    public override void Destroy()
    {
        Invariant.Assert(_pending.IsEmpty && _qp.Outstanding == 0, "the bdev layer destroys a channel only when idle");
        Volatile.Write(ref _ackedGeneration, int.MaxValue);
        _ctrl.Disconnect(this);
    }
}
