using System.Runtime.CompilerServices;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Nvme;

/// <summary>An I/O queue pair of one controller, owned by one thread and shared by every
/// namespace used there (SPDK's spdk_nvme_qpair, and nvme_ctrlr_channel's one qpair per
/// controller per thread): <see cref="Submit"/> splits a request at the controller's
/// maximum transfer and places its commands; what finds no free slot, or a queue not (yet,
/// or no longer) connected, waits on the pending queue and continues where it stopped;
/// <see cref="Poll"/> reaps, resubmits what waited, rings each doorbell once and looks for
/// commands past their timeout. When the controller resets, the queue reclaims every
/// command the disabled controller will not complete and runs them again once it is
/// re-created. Transport-neutral: the transport queue places and reaps commands.</summary>
[SkipLocalsInit] // every local of the I/O path is assigned before use: no zeroing of the frame
internal sealed unsafe class NvmeIoQpair : NvmeCompletionSink, INvmeQueueOwner
{
    private const int ReapBatch = 256;
    private const byte PendingQueue = 1;

    private readonly NvmeController _ctrl;
    private readonly LightweightThread _thread;
    private readonly ulong _maxTransfer;
    private NvmeTransportQueue _queue = null!;
    private int _connected;
    private int _ackedGeneration;
    private bool _reclaiming;
    private bool _needRing;
    private IntrusiveQueue<NvmeRequest> _pending = new(PendingQueue);
    private long _nextScan;

    public NvmeIoQpair(NvmeController controller, LightweightThread thread)
    {
        _ctrl = controller;
        _thread = thread; // its poll clock stamps commands: no clock read per command
        _maxTransfer = controller.MaxTransferBytes;
    }

    public NvmeTransportQueue Queue => _queue;
    public NvmeController Controller => _ctrl;
    public bool IsIdle => _pending.IsEmpty && _queue.Outstanding == 0;

    public bool Connected
    {
        get => Volatile.Read(ref _connected) != 0;
        set => Volatile.Write(ref _connected, value ? 1 : 0);
    }

    public int AckedGeneration => Volatile.Read(ref _ackedGeneration);

    /// <summary>Takes a queue id and the rings; the controller's admin poll connects the
    /// queue, asynchronously (I/O waits on the pending queue until then).</summary>
    public int Init()
    {
        _ackedGeneration = _ctrl.Generation;
        int rc = _ctrl.AddQueueOwner(this, out ushort qid);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = _ctrl.Transport.CreateQueue(qid, _ctrl.IoQueueEntries, out NvmeTransportQueue? q)) != 0)
        {
            _ctrl.ReleaseQueueId(qid);
            return rc;
        }
        _queue = q!;
        _ctrl.Connect(this);
        return 0;
    }

    // ------------------------------------------------------------------ submission

    /// <summary>Starts a request. Its callback runs exactly once — from a later
    /// <see cref="Poll"/>, or from inside this call when it fails at once (the controller
    /// has failed, a buffer cannot be described).</summary>
    public void Submit(NvmeRequest* r) => Submit(r, _thread.StampTicks);

    /// <summary><see cref="Submit"/> with the submission's time already read (the bdev I/O's
    /// stamp): a submission outside a poll reads the clock once, not twice. While requests
    /// wait, a new one queues behind them: a completion callback that submits again would
    /// otherwise take the slot its completion just freed, ahead of the oldest waiting request,
    /// and at a queue depth above the queue's slots one request waited for the whole run
    /// (a 2 s maximum latency at QD 128 over NVMe/TCP). The poll starts them in order.</summary>
    public void Submit(NvmeRequest* r, long now)
    {
        if (!_pending.IsEmpty && Connected && !_reclaiming)
        {
            _pending.Push(r);
            return;
        }
        Start(r, now);
    }

    /// <summary>Builds and places commands for the rest of the request; <paramref name="now"/>
    /// starts their timeouts.</summary>
    private void Start(NvmeRequest* r, long now)
    {
        if (!Connected || _reclaiming)
        {
            if (_ctrl.State == NvmeControllerState.Failed || _ctrl.FailIoFast)
            {
                r->Status = Failed();
                FinishIfDone(r);
                return;
            }
            AddPending(r);
            return;
        }
        while (!r->FullyBuilt)
        {
            if (!_queue.HasFreeSlot)
            {
                AddPending(r);
                return;
            }
            var cmd = default(NvmeCommand);
            ulong next = r->NextByte;
            NvmeCommands.Next(r, _maxTransfer, ref cmd, out NvmeData data);
            int rc = _queue.Submit(ref cmd, r, data, now);
            if (rc != 0)
            {
                r->NextByte = next;
                r->Status = rc;
                break;
            }
            r->Children++;
            _needRing = true;
        }
        FinishIfDone(r);
    }

    private void AddPending(NvmeRequest* r)
    {
        if (r->Queue != PendingQueue)
        {
            _pending.Push(r);
        }
    }

    /// <summary>Restarts pending requests in order while command slots last.</summary>
    private int RunPending()
    {
        int n = 0;
        while (!_pending.IsEmpty && _queue.HasFreeSlot && Connected)
        {
            NvmeRequest* r = _pending.Pop();
            n++;
            if (r->Status != 0)
            {
                FinishIfDone(r);
                continue;
            }
            Start(r, _thread.StampTicks);
        }
        return n;
    }

    /// <summary>Calls back once no command of the request is in flight and it is fully
    /// built or failed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishIfDone(NvmeRequest* r)
    {
        if (r->Children != 0 || r->Queue == PendingQueue || (r->Status == 0 && !r->FullyBuilt))
        {
            return;
        }
        r->Callback(r);
    }

    private int Failed() => LastError.Set(Errno.EIO, _ctrl.FailIoFast
        ? $"nvme {_ctrl.Address} is reconnecting (fast_io_fail_timeout passed)" : $"nvme {_ctrl.Address} has failed");

    // ------------------------------------------------------------------ completion

    public override void Completed(ushort cid, void* request, in NvmeCompletion cpl)
    {
        var r = (NvmeRequest*)request;
        Invariant.Assert(r->Children > 0, "a completion for a request with no command in flight");
        r->Children--;
        r->Cdw0 = cpl.Dw0;
        if (!cpl.Success)
        {
            CommandFailed(r, cpl);
        }
        if (r->Children == 0 && r->Status == 0 && !r->FullyBuilt && r->Queue != PendingQueue)
        {
            Start(r, _thread.StampTicks); // a large request whose next part waited for a slot
            return;
        }
        FinishIfDone(r);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CommandFailed(NvmeRequest* r, in NvmeCompletion cpl)
    {
        r->Sct = (ushort)cpl.Sct;
        r->Sc = (ushort)cpl.Sc;
        if (r->Status == 0)
        {
            r->Status = NvmeCommands.StatusToErrno(cpl);
        }
    }

    /// <summary>One poll of the queue: reclaim after a reset, reap, resubmit what waited,
    /// ring, look for timeouts. The number of commands handled.</summary>
    public int Poll()
    {
        int generation = _ctrl.Generation;
        if (generation != _ackedGeneration)
        {
            return Reclaim(generation);
        }
        int n = 0;
        if (_queue.Outstanding > 0)
        {
            n = _queue.Process(this, ReapBatch);
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
            _queue.RingSubmissions();
        }
        if (_queue.Outstanding > 0 && _ctrl.CommandTimeoutTicks > 0)
        {
            long now = _thread.StampTicks;
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
        for (int cid = 0; cid < _queue.Slots; cid++)
        {
            if (!_queue.InFlight(cid, out _, out long submitted, out long aborting) || now - submitted < limit)
            {
                continue;
            }
            if (aborting == 0)
            {
                _queue.MarkAborting(cid, now);
                Log.Warn($"nvme {_ctrl.Address}: command {cid} on queue {_queue.Id} timed out after " +
                         $"{Ticks.ToMicroseconds(now - submitted) / 1000:F0} ms: aborting it");
                _ctrl.RequestAbort(_queue.Id, (ushort)cid);
            }
            else if (now - aborting >= limit)
            {
                _ctrl.RequestResetOnce($"command {cid} on queue {_queue.Id} did not complete after an abort");
                return;
            }
        }
    }

    /// <summary>The controller was disabled for a reset (or failed): completions it posted
    /// before are handled, every other command in flight goes back on the pending queue to
    /// be submitted again in full (I/O passthrough is reported aborted instead: it may not
    /// be idempotent), and the emptied queue is acknowledged to the admin poll.</summary>
    private int Reclaim(int generation)
    {
        _reclaiming = true;
        int n = _queue.Process(this, _queue.Entries, ack: false);
        for (int cid = 0; cid < _queue.Slots; cid++)
        {
            if (!_queue.InFlight(cid, out void* request, out _, out _))
            {
                continue;
            }
            var r = (NvmeRequest*)request;
            _queue.Release(cid);
            Invariant.Assert(r->Children > 0, "a reclaimed command of a request with none in flight");
            r->Children--;
            n++;
            if (r->Kind == NvmeRequestKind.IoPassthru)
            {
                // A passthrough command may not be idempotent (reservations, zone append):
                // reported aborted, not run twice.
                r->Sct = NvmeSpec.SctGeneric;
                r->Sc = NvmeSpec.ScAbortedSqDeletion;
                r->Status = -Errno.EIO;
                FinishIfDone(r);
                continue;
            }
            r->NextByte = 0; // reads and writes are run again in full
            r->Started = 0;
            AddPending(r);
        }
        _queue.Reset();
        _needRing = false;
        _reclaiming = false;
        Volatile.Write(ref _ackedGeneration, generation);
        FailPendingIfFailed();
        return n;
    }

    private int FailPendingIfFailed()
    {
        if (_ctrl.State != NvmeControllerState.Failed && !_ctrl.FailIoFast)
        {
            return 0;
        }
        int n = 0;
        NvmeRequest* r;
        while ((r = _pending.Pop()) != null)
        {
            if (r->Status == 0)
            {
                r->Status = -Errno.EIO;
            }
            FinishIfDone(r);
            n++;
        }
        return n;
    }

    /// <summary>The owner is done with the queue (nothing in flight): the admin poll
    /// deletes it from the controller and frees it.</summary>
    public void Destroy()
    {
        Invariant.Assert(IsIdle, "an NVMe queue pair destroyed with requests in flight");
        Volatile.Write(ref _ackedGeneration, int.MaxValue);
        _ctrl.Disconnect(this);
    }
}
