using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>The bdev layer's per-thread channel for one bdev: the backend's channel, the
/// statistics of this thread's I/O, and the completions to deliver on the next poll. I/Os
/// come from the thread's shared <see cref="BdevIoPool"/>. Touched only by its own
/// thread, so nothing here is atomic or locked.
///
/// The completion rule (SPDK's bdev_io_complete): a backend calls <see cref="Complete"/>
/// from wherever it is. While the channel is inside a backend's submit, the completion is
/// queued and delivered from the next poll, so a host's callback never runs inside its own
/// submit call; from a poll it is delivered at once.</summary>
internal sealed unsafe class BdevChannel
{
    /// <summary>I/Os per thread (the pool is shared by a thread's channels).</summary>
    public static int PoolSize => BdevIoPool.Size;

    public readonly Bdev Bdev;
    public readonly IoChannel IoChannel;
    public readonly LightweightThread Thread;
    public readonly BdevStats Stats = new();
    public int Outstanding; // passed to the backend, not yet completed (resets and held I/O excluded)

    private BdevModuleChannel? _module;
    private IoChannel? _threadChannel;
    private BdevThread _bdevThread = null!;
    private BdevIoPool _pool = null!;
    internal bool InBusyList; // on the thread's list of channels with slow layer work
    internal int ThreadSlot = -1; // its slot in the thread's BdevThread
    private int _inSubmit; // > 0 while a backend's Submit runs: completions are queued
    private readonly ChannelResets _resets;
    private readonly ChannelFaults _faults;
    private readonly ChannelTimeouts _timeouts;
    private ErrorWindow _errors;
    private readonly uint _blockSize;
    private Poller? _poller;
    private GCHandle _self;

    public BdevChannel(Bdev bdev, IoChannel ioChannel)
    {
        Bdev = bdev;
        IoChannel = ioChannel;
        Thread = ioChannel.Thread;
        _blockSize = bdev.BlockSize;
        _resets = new ChannelResets(this);
        _faults = new ChannelFaults(this);
        _timeouts = new ChannelTimeouts(this);
    }

    public BdevModuleChannel Module => _module!;
    public BdevIoPool Pool => _pool;
    internal ChannelFaults Faults => _faults;
    /// <summary>What each of this channel's I/Os records as its channel.</summary>
    internal void* IoTag => (void*)GCHandle.ToIntPtr(_self);
    /// <summary>I/Os a submission on this thread can still take.</summary>
    public int FreeCount => _pool.FreeCount;

    /// <summary>Runs on the channel's thread when the io channel is created.</summary>
    public int Start()
    {
        int rc = IoChannel.Get(BdevThread.Device, out _threadChannel);
        if (rc != 0)
        {
            return rc;
        }
        _bdevThread = (BdevThread)_threadChannel!.State!;
        _pool = _bdevThread.Pool;
        _self = GCHandle.Alloc(this);
        int said = LastError.Sequence;
        _module = Bdev.CreateChannel(this);
        if (_module == null)
        {
            Release();
            // The module's own errno and message (EMFILE for a ring, EAGAIN for aio-max-nr),
            // not a blanket -ENOMEM that hides the cause.
            return LastError.Sequence != said && LastError.Errno > 0 ? -LastError.Errno
                : LastError.Set(Errno.ENOMEM, $"bdev '{Bdev.Name}' ({Bdev.ModuleName}) could not set up an io channel");
        }
        if (_module.NeedsPoller)
        {
            rc = Thread.RegisterPoller("bdev:" + Bdev.Name, 0, (nint)(delegate*<object?, int>)&PollThunk, 0, this,
                managed: true, out _poller);
            if (rc != 0)
            {
                _module.Destroy();
                Release();
                return rc;
            }
        }
        _bdevThread.Add(this);
        return 0;
    }

    // A completion deferred to the thread's done queue still counts as outstanding here.
    private bool Busy => Outstanding > 0 || _resets.InBackend > 0 || _resets.HasWaiting || _resets.HasHeld;

    /// <summary>Runs on the channel's thread when the last reference is put.</summary>
    public void Stop()
    {
        if (_faults.HasStuck)
        {
            _faults.ReleaseStuck(-Errno.ECANCELED, abortedOnly: false); // nothing else would ever finish them
        }
        if (Busy)
        {
            // The host put its channel with I/O in flight. Every accepted I/O must still
            // see its callback, and memory a backend may still write must stay mapped, so
            // finish them here (bounded), then release.
            Log.Error($"bdev '{Bdev.Name}': io channel released with {Outstanding} I/Os outstanding; " +
                      "completing them first");
            long deadline = Ticks.Now + 5 * Ticks.Hz;
            while (Busy && Ticks.Now < deadline)
            {
                _module?.Poll(this);
                _bdevThread.DrainDone();
                PollLayer(out _);
            }
            if (Outstanding > 0 || _resets.InBackend > 0 || _resets.HasHeld)
            {
                // A backend finishing one later (a controller reset completes by message)
                // still finds its BdevIo and calls back once: the channel, its backend
                // state (a queue the device may still write through) and the thread's pool
                // under it all stay.
                Log.Error($"bdev '{Bdev.Name}': {Outstanding + _resets.InBackend} I/Os never completed; " +
                          "their channel memory is leaked");
                return;
            }
        }
        if (_poller != null)
        {
            Thread.UnregisterPoller(_poller);
            _poller = null;
        }
        _module?.Destroy();
        _module = null;
        Release();
    }

    private void Release()
    {
        _bdevThread?.Remove(this);
        if (_self.IsAllocated)
        {
            _self.Free();
        }
        _threadChannel?.Put();
        _threadChannel = null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static BdevChannel FromIo(BdevIo* io) =>
        Unsafe.As<BdevChannel>(GCHandle.FromIntPtr((nint)io->Channel).Target!); // the tag is only ever a channel's

    // ---------------------------------------------------------------- submission

    /// <summary>Validates and starts an I/O. Returns 0 (the callback will run, on this
    /// thread, from a later poll) or a negative errno (it will not). Allocation-free.
    /// <paramref name="callback"/> is a C-convention function
    /// <c>void (struct nb_bdev_io *, int status, void *arg)</c>.</summary>
    public int Submit(BdevDesc desc, BdevIoType type, Iovec* iovs, int iovCount, void* buf, ulong offsetBlocks,
        ulong numBlocks, nint callback, nint callbackArg)
    {
        Invariant.Assert(callback != 0, "an I/O without a completion callback");
        return SubmitCore(desc, type, iovs, iovCount, buf, offsetBlocks, numBlocks, callback, callbackArg);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SubmitCore(BdevDesc desc, BdevIoType type, Iovec* iovs, int iovCount, void* buf, ulong offsetBlocks,
        ulong numBlocks, nint callback, nint callbackArg)
    {
        int rc = BdevIoChecks.Request(Bdev, desc, type, iovs, iovCount, buf, offsetBlocks, numBlocks);
        if (rc != 0)
        {
            return rc;
        }
        BdevIo* io = Take(desc, type, callback, callbackArg);
        if (io == null)
        {
            return -Errno.ENOMEM;
        }
        io->OffsetBlocks = offsetBlocks;
        io->NumBlocks = numBlocks;
        if (buf != null || iovs == null)
        {
            io->InlineIov.Base = (byte*)buf;
            io->InlineIov.Length = (nuint)(numBlocks * _blockSize);
            io->Iovs = &io->InlineIov;
            io->IovCount = buf != null ? 1 : 0;
        }
        else
        {
            io->Iovs = iovs;
            io->IovCount = iovCount;
        }
        Launch(io);
        return 0;
    }

    /// <summary>The I/O a virtual bdev sends to its base on behalf of <paramref name="parent"/>
    /// (an I/O of the virtual bdev's own channel, on this thread). It completes to the
    /// parent's module (<see cref="BdevModuleChannel.ChildDone"/>) by an ordinary call: no
    /// callback crosses the C calling convention inside the library. Checks, errors and
    /// deferral are those of <see cref="Submit"/>.</summary>
    public int SubmitChild(BdevDesc desc, BdevIo* parent, BdevIoType type, Iovec* iovs, int iovCount, void* buf,
        ulong offsetBlocks, ulong numBlocks)
    {
        Invariant.Assert(parent->State == BdevIo.StateSubmitted, "a child I/O of a parent that is not in flight");
        Invariant.Assert(FromIo(parent).Thread == Thread, "a child I/O submitted on another thread than its parent");
        return SubmitCore(desc, type, iovs, iovCount, buf, offsetBlocks, numBlocks, 0, (nint)parent);
    }

    /// <summary>An NVMe admin or I/O command passed through to the device
    /// (spdk_bdev_nvme_admin_passthru / _io_passthru): <paramref name="cmd"/> is copied.</summary>
    public int SubmitPassthru(BdevDesc desc, BdevIoType type, byte* cmd, void* buf, ulong nbytes, nint callback,
        nint callbackArg)
    {
        int rc = BdevIoChecks.Passthru(Bdev, desc, type, cmd, buf, nbytes);
        if (rc != 0)
        {
            return rc;
        }
        BdevIo* io = Take(desc, type, callback, callbackArg);
        if (io == null)
        {
            return -Errno.ENOMEM;
        }
        io->OffsetBlocks = 0;
        io->NumBlocks = 0;
        io->InlineIov.Base = (byte*)buf;
        io->InlineIov.Length = (nuint)nbytes;
        io->Iovs = &io->InlineIov;
        io->IovCount = buf != null ? 1 : 0;
        System.Buffer.MemoryCopy(cmd, io->NvmeCmd, 64, 64);
        Launch(io);
        return 0;
    }

    /// <summary>A free I/O from the thread's pool, its common fields set; null (LastError
    /// set) when the pool is exhausted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BdevIo* Take(BdevDesc desc, BdevIoType type, nint callback, nint callbackArg)
    {
        BdevIo* io = _pool.Take();
        if (io == null)
        {
            return null;
        }
        io->Type = type;
        io->State = BdevIo.StateSubmitted;
        io->Flags = 0;
        io->DescId = desc.Id;
        io->Status = 0;
        io->Channel = IoTag;
        io->Callback = callback;
        io->CallbackArg = callbackArg;
        io->SubmitTicks = Thread.StampTicks;
        return io;
    }

    /// <summary>Resets wait for the bdev to drain; I/O submitted while one drains waits
    /// for it; everything else goes to the backend now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Launch(BdevIo* io)
    {
        if (io->Type == BdevIoType.Reset)
        {
            _resets.Add(io);
            return;
        }
        if (System.Threading.Volatile.Read(ref Bdev.PendingResets) != 0)
        {
            _resets.Hold(io);
            return;
        }
        Dispatch(io);
    }

    /// <summary>Hands an I/O to the backend, unless a fault rule intercepts it first or the
    /// device monitor has retired the bdev (then it fails: the device is not asked).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Dispatch(BdevIo* io)
    {
        Outstanding++;
        _inSubmit++;
        FaultRule[]? rules = Bdev.Faults;
        if (rules != null && _faults.AtSubmit(io, rules))
        {
            // taken by a rule
        }
        else if (Bdev.FailedFlag != 0)
        {
            io->Flags |= BdevIo.FlagFaultApplied;
            Complete(io, -Errno.EIO);
        }
        else
        {
            _module!.Submit(this, io);
        }
        _inSubmit--;
    }

    /// <summary>Gives an I/O the layer held (a reset, a delayed one) to the backend.</summary>
    internal void SubmitToModule(BdevIo* io)
    {
        _inSubmit++;
        _module!.Submit(this, io);
        _inSubmit--;
    }

    // ---------------------------------------------------------------- completion

    /// <summary>The one way a backend completes an I/O, from its Submit or its Poll or a
    /// message: queued on the thread's done queue while a Submit of this channel runs
    /// (delivered by the thread's bdev poller), delivered now otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Complete(BdevIo* io, int status)
    {
        Invariant.Assert(io->State == BdevIo.StateSubmitted, "completing an I/O that is not in flight");
        Invariant.Assert(io->Channel == IoTag, "an I/O completed on a channel that did not submit it");
        io->Status = status;
        if (_inSubmit != 0)
        {
            _bdevThread.Defer(io);
            return;
        }
        Finish(io, 0); // the stamp is read in Finish: a backend's code inlines no clock logic
    }

    /// <summary>Statistics, the callback, the I/O back to the pool. <paramref name="now"/>: the
    /// completion's stamp, or 0 for the thread's current one.</summary>
    internal void Finish(BdevIo* io, long now)
    {
        if (now == 0)
        {
            now = Thread.StampTicks;
        }
        Invariant.Assert(io->State == BdevIo.StateSubmitted, "finishing an I/O that is not in flight");
        Invariant.Assert(io->Queue == IoQueueName.None, "finishing an I/O that is still on a queue");
        FaultRule[]? rules = Bdev.Faults;
        if (rules != null && (io->Flags & BdevIo.FlagFaultApplied) == 0 && _faults.AtCompletion(io, rules, now))
        {
            return; // held by a rule: it finishes later
        }
        long latency = now - io->SubmitTicks;
        if (latency < 0)
        {
            latency = 0;
        }
        ref OpStats s = ref Stats.Ops[(int)io->Type];
        if (io->Status == 0)
        {
            s.Record(io->NumBlocks * _blockSize, (ulong)latency);
        }
        else
        {
            s.Errors++;
            if (DeviceMonitor.MaxErrors > 0 && io->Status != -Errno.ECANCELED)
            {
                _errors.Count(Bdev, io, now, Thread.Name);
            }
        }
        Stats.Histogram.Record((ulong)latency);
        if (io->Type != BdevIoType.Reset)
        {
            Outstanding--;
            Invariant.Assert(Outstanding >= 0, "a channel's outstanding count went negative");
        }
        else
        {
            _resets.Completed();
        }
        io->State = BdevIo.StateCompleting;
        _pool.OpenReserve();
        if (io->Callback != 0)
        {
            BdevIo.InvokeCallback(io);
        }
        else
        {
            var parent = (BdevIo*)io->CallbackArg;
            BdevChannel parentChannel = FromIo(parent);
            parentChannel.Module.ChildDone(parentChannel, parent, io);
        }
        _pool.CloseReserve();
        if ((io->NvmeCdw0 | io->NvmeSct | io->NvmeSc) != 0)
        {
            io->NvmeCdw0 = 0;
            io->NvmeSct = 0;
            io->NvmeSc = 0;
        }
        _pool.Return(io);
    }

    /// <summary>Resets, held or fault-held I/O are queued here: the thread's bdev poller
    /// runs <see cref="PollLayer"/> until they are gone.</summary>
    internal void MarkSlowWork()
    {
        _slowWork = true;
        if (!InBusyList)
        {
            _bdevThread.MarkBusy(this);
        }
    }

    private bool _slowWork;

    private static int PollThunk(object? o)
    {
        var c = (BdevChannel)o!;
        return c._module!.Poll(c);
    }

    /// <summary>The layer's own work on this channel (resets, held and fault-held I/O),
    /// from the thread's bdev poller; <paramref name="more"/>: the poller must come back.</summary>
    internal int PollLayer(out bool more)
    {
        int work = _slowWork ? PollSlowWork() : 0;
        more = _slowWork;
        return work;
    }

    private int PollSlowWork()
    {
        int work = 0;
        if (_resets.HasWaiting)
        {
            work += _resets.Progress();
        }
        if (_resets.HasHeld && System.Threading.Volatile.Read(ref Bdev.PendingResets) == 0)
        {
            work += _resets.ReleaseHeld();
        }
        if (_faults.HoldsAny)
        {
            work += PollFaults();
        }
        _slowWork = _resets.HasWaiting || _resets.HasHeld || _faults.HoldsAny;
        return work;
    }

    /// <summary>Looks for overdue I/O of descriptors with a timeout (every millisecond,
    /// from the thread's bdev poller, while the bdev has such descriptors).</summary>
    internal int PollTimeouts(long now) => _timeouts.Scan(now);

    private int PollFaults()
    {
        long now = Thread.StampTicks;
        int n = 0;
        if (_faults.HasDelayed)
        {
            n += _faults.ProgressDelayed(now);
        }
        if (_faults.HasStuck && (System.Threading.Volatile.Read(ref Bdev.PendingResets) != 0 || Bdev.Removing))
        {
            // A reset releases what the fault rules hold, as SPDK's reset aborts queued I/O;
            // so does removal: a reset is refused then (-ENODEV), and a host that drains its
            // in-flight I/O before putting its channel would otherwise wait forever.
            n += _faults.ReleaseStuck(-Errno.ECANCELED, abortedOnly: false);
        }
        return n;
    }

    // ---------------------------------------------------------------- io wait

    /// <summary>spdk_bdev_queue_io_wait: fn(arg) runs on this thread once an I/O is free.
    /// Only the channel's own thread may queue (the wait list is the thread's); an entry
    /// already queued is refused (-EBUSY).</summary>
    public int QueueIoWait(nint entry, nint fn, nint arg)
    {
        int rc = IoChannel.CheckOwner();
        return rc != 0 ? rc : _pool.QueueIoWait(entry, fn, arg);
    }
}
