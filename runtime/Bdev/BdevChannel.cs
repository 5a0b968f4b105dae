using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>The bdev layer's per-thread channel for one bdev: a fixed pool of
/// <see cref="BdevIo"/> in unmanaged memory, the backend's channel, the statistics of this
/// thread's I/O, and the queue of completions to deliver on the next poll. Touched only by
/// its own thread, so nothing here is atomic or locked.</summary>
internal sealed unsafe class BdevChannel
{
    /// <summary>I/Os per channel; a submission beyond it gets -ENOMEM (then
    /// nb_bdev_queue_io_wait).</summary>
    public static int PoolSize = 2048;

    public readonly Bdev Bdev;
    public readonly IoChannel IoChannel;
    public readonly LightweightThread Thread;
    public readonly BdevStats Stats = new();
    public int Outstanding; // passed to the backend, not yet completed (resets and held I/O excluded)

    private BdevModuleChannel? _module;
    private BdevIo* _ios;
    private int _poolSize;
    private int _freeHead = -1;
    private int _freeCount;
    // One I/O beyond PoolSize is held back, and only a completion callback may take it: the
    // I/O being completed is freed after its callback (so the callback can still read it),
    // and without the reserve a callback resubmitting into a full pool would get -ENOMEM.
    private int _reserve = 1;
    private int _doneHead = -1, _doneTail = -1;   // deferred completions, FIFO
    private int _resetHead = -1, _resetTail = -1; // resets waiting for the bdev to drain
    private int _resetsInBackend; // resets the backend has and has not completed (not in Outstanding)
    private int _heldHead = -1, _heldTail = -1;   // I/O submitted while a reset drains the bdev
    private int _delayedHead = -1, _delayedTail = -1; // fault injection: delayed I/O
    private int _stuckHead = -1, _stuckTail = -1;     // fault injection: I/O that never completes
    private long _nextTimeoutScan;
    private long _errorWindowStart; // device monitor: this channel's errors in the current window
    private int _errorsInWindow;
    private readonly ContextSlot[] _contexts;      // managed callback state per I/O
    private readonly uint _blockSize;

    // A struct slot, not object?[]: storing into a covariant object array costs a type
    // check (StelemRef) per store.
    private struct ContextSlot
    {
        public object? Value;
    }
    private readonly Queue<(nint Fn, nint Arg)> _waiters = new(64);
    private Poller? _poller;
    private GCHandle _self;

    public BdevChannel(Bdev bdev, IoChannel ioChannel)
    {
        Bdev = bdev;
        IoChannel = ioChannel;
        Thread = ioChannel.Thread;
        _contexts = new ContextSlot[PoolSize + 1];
        _blockSize = bdev.BlockSize;
    }

    public BdevModuleChannel Module => _module!;
    public int FreeCount => _freeCount - _reserve;
    public int PoolCapacity => _poolSize;

    /// <summary>Runs on the channel's thread when the io channel is created.</summary>
    public int Start()
    {
        _poolSize = _contexts.Length;
        Debug.Assert(_poolSize == PoolSize + 1, "the pool holds PoolSize I/Os plus the callback reserve");
        nuint bytes = (nuint)(_poolSize * sizeof(BdevIo));
        _ios = (BdevIo*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_ios, bytes);
        _self = GCHandle.Alloc(this);
        for (int i = _poolSize - 1; i >= 0; i--)
        {
            BdevIo* io = &_ios[i];
            io->Index = i;
            io->Channel = (void*)GCHandle.ToIntPtr(_self);
            io->Next = _freeHead;
            _freeHead = i;
        }
        _freeCount = _poolSize;
        BdevIoRegistry.Add(_ios, _poolSize, this);
        _module = Bdev.CreateChannel(this);
        if (_module == null)
        {
            Release();
            return -Errno.ENOMEM;
        }
        int rc = Thread.RegisterPoller("bdev:" + Bdev.Name, 0, (nint)(delegate*<object?, int>)&PollThunk, 0, this,
            managed: true, out _poller);
        if (rc != 0)
        {
            _module.Destroy();
            Release();
            return rc;
        }
        return 0;
    }

    /// <summary>Runs on the channel's thread when the last reference is put.</summary>
    public void Stop()
    {
        if (_stuckHead >= 0)
        {
            ReleaseStuck(-Errno.ECANCELED, abortedOnly: false); // nothing else would ever finish them
        }
        if (Outstanding > 0 || _resetsInBackend > 0 || _resetHead >= 0 || _doneHead >= 0 || _heldHead >= 0)
        {
            // The host put its channel with I/O in flight. Every accepted I/O must still
            // see its callback, and memory a backend may still write must stay mapped, so
            // finish them here (bounded), then release.
            Log.Error($"bdev '{Bdev.Name}': io channel released with {Outstanding} I/Os outstanding; completing them first");
            long deadline = Ticks.Now + 5 * Ticks.Hz;
            while ((Outstanding > 0 || _resetsInBackend > 0 || _resetHead >= 0 || _doneHead >= 0 || _heldHead >= 0) &&
                   Ticks.Now < deadline)
            {
                Poll();
            }
            if (Outstanding > 0 || _resetsInBackend > 0 || _heldHead >= 0)
            {
                // A backend finishing one later (a controller reset completes by message)
                // still finds its BdevIo and calls back once.
                Log.Error($"bdev '{Bdev.Name}': {Outstanding + _resetsInBackend} I/Os never completed; their channel memory is leaked");
                _module?.Destroy();
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
        BdevIoRegistry.Remove(_ios);
        NativeMemory.AlignedFree(_ios);
        _ios = null;
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    public static BdevChannel FromIo(BdevIo* io) => (BdevChannel)GCHandle.FromIntPtr((nint)io->Channel).Target!;

    // ---------------------------------------------------------------- submission

    /// <summary>The descriptor is open, the bdev registered and the I/O type supported.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int CheckTarget(BdevDesc desc, BdevIoType type)
    {
        if (desc.Closed)
        {
            return LastError.Set(Errno.EBADF, "descriptor is closed");
        }
        if (Bdev.State != BdevState.Registered)
        {
            return LastError.Set(Errno.ENODEV, "bdev is being removed");
        }
        if (!Bdev.Supported[(int)type])
        {
            return Unsupported(type);
        }
        return 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int Unsupported(BdevIoType type) => LastError.Set(Errno.ENOTSUP, type is BdevIoType.NvmeAdmin or BdevIoType.NvmeIo
        ? $"bdev '{Bdev.Name}' ({Bdev.ModuleName}) takes no NVMe {(type == BdevIoType.NvmeAdmin ? "admin" : "I/O")} passthrough"
        : "I/O type is not supported by this bdev");

    /// <summary>Validates and starts an I/O. Returns 0 (the callback will run, on this
    /// thread, from a later poll) or a negative errno (it will not). Allocation-free.</summary>
    public int Submit(BdevDesc desc, BdevIoType type, Iovec* iovs, int iovCount, void* buf, ulong offsetBlocks,
        ulong numBlocks, nint callback, nint callbackArg, object? managedContext, bool managed)
    {
        Bdev bdev = Bdev;
        int rc0 = CheckTarget(desc, type);
        if (rc0 != 0)
        {
            return rc0;
        }
        if (type != BdevIoType.Read && !desc.Writable)
        {
            return LastError.Set(Errno.EBADF, "descriptor is read-only");
        }
        ulong end = offsetBlocks + numBlocks;
        if (end < offsetBlocks || end > bdev.BlockCount || (numBlocks == 0 && type != BdevIoType.Flush && type != BdevIoType.Reset))
        {
            return OutOfRange(offsetBlocks, numBlocks);
        }
        if (type <= BdevIoType.Write)
        {
            // The common case inline: one buffer, no alignment requirement.
            if (buf == null || bdev.RequiredAlignment != 1)
            {
                int rc = CheckBuffers(iovs, iovCount, buf, numBlocks * _blockSize);
                if (rc != 0)
                {
                    return rc;
                }
            }
        }
        BdevIo* io = Take(desc, type, callback, callbackArg, managedContext, managed);
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

    /// <summary>An NVMe admin or I/O command passed through to the device
    /// (spdk_bdev_nvme_admin_passthru / _io_passthru): <paramref name="cmd"/> is copied.</summary>
    public int SubmitPassthru(BdevDesc desc, BdevIoType type, byte* cmd, void* buf, ulong nbytes, nint callback,
        nint callbackArg, object? managedContext, bool managed)
    {
        Bdev bdev = Bdev;
        int rc = CheckTarget(desc, type);
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
            return LastError.Set(Errno.EINVAL, nbytes > int.MaxValue ? $"passthrough data length {nbytes} is too large"
                : "passthrough buffer and length must be both set or both zero");
        }
        if (((nuint)buf & 3) != 0)
        {
            return LastError.Set(Errno.EINVAL, "passthrough buffer must be 4-byte aligned");
        }
        if (bdev.NeedsDmaBuffers && buf != null && NbEnvironment.Dma?.ContainsRange(buf, (nuint)nbytes) != true)
        {
            return NotDma();
        }
        rc = bdev.CheckPassthru(type, cmd, nbytes);
        if (rc != 0)
        {
            return rc;
        }
        BdevIo* io = Take(desc, type, callback, callbackArg, managedContext, managed);
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
        Buffer.MemoryCopy(cmd, io->NvmeCmd, 64, 64);
        Launch(io);
        return 0;
    }

    /// <summary>A free I/O from the pool, its common fields set; null (LastError set) when
    /// the pool is exhausted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BdevIo* Take(BdevDesc desc, BdevIoType type, nint callback, nint callbackArg, object? managedContext, bool managed)
    {
        if (_freeCount <= _reserve)
        {
            LastError.Set(Errno.ENOMEM, "no free bdev_io on this channel (use nb_bdev_queue_io_wait)");
            return null;
        }
        int index = _freeHead;
        BdevIo* io = &_ios[index];
        Debug.Assert(io->State == BdevIo.StateFree, "I/O on the free list is not free");
        _freeHead = io->Next;
        _freeCount--;
        io->Type = type;
        io->State = BdevIo.StateSubmitted;
        io->Flags = 0;
        io->Desc = desc.Handle;
        io->ManagedCallback = managed ? (byte)1 : (byte)0;
        io->Status = 0;
        io->Next = -1;
        io->Callback = callback;
        io->CallbackArg = callbackArg;
        io->SubmitTicks = Thread.StampTicks;
        if (managed)
        {
            _contexts[index].Value = managedContext;
        }
        return io;
    }

    /// <summary>Resets wait for the bdev to drain; I/O submitted while one drains waits
    /// for it; everything else goes to the backend now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Launch(BdevIo* io)
    {
        if (io->Type == BdevIoType.Reset)
        {
            System.Threading.Interlocked.Increment(ref Bdev.PendingResets);
            Append(ref _resetHead, ref _resetTail, io);
            return;
        }
        if (System.Threading.Volatile.Read(ref Bdev.PendingResets) != 0)
        {
            // A reset is draining the bdev: this I/O waits until it completes. Otherwise a
            // workload that resubmits from its callbacks keeps I/O outstanding forever and
            // the reset never runs.
            Append(ref _heldHead, ref _heldTail, io);
            return;
        }
        Dispatch(io);
    }

    /// <summary>Hands an I/O to the backend, unless a fault rule intercepts it first or the
    /// device monitor has retired the bdev (then it fails at once: the device is not asked).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Dispatch(BdevIo* io)
    {
        Outstanding++;
        if (Bdev.Faults != null && SubmitFault(io))
        {
            return;
        }
        if (Bdev.FailedFlag != 0)
        {
            io->Flags |= BdevIo.FlagFaultApplied;
            CompleteDeferred(io, -Errno.EIO);
            return;
        }
        _module!.Submit(this, io);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int OutOfRange(ulong offset, ulong num) => LastError.Set(Errno.EINVAL,
        $"blocks {offset}+{num} are outside bdev '{Bdev.Name}' ({Bdev.BlockCount} blocks) or the length is zero");

    private int CheckBuffers(Iovec* iovs, int iovCount, void* buf, ulong bytes)
    {
        uint alignMask = Bdev.RequiredAlignment - 1;
        if (buf != null)
        {
            if (((nuint)buf & alignMask) != 0)
            {
                return Misaligned();
            }
            return Bdev.NeedsDmaBuffers ? CheckDma(iovs, 0, buf, bytes) : 0;
        }
        if (iovs == null)
        {
            return LastError.Set(Errno.EINVAL, "buffer is NULL");
        }
        if (iovCount <= 0 || iovCount > 1024)
        {
            return LastError.Set(Errno.EINVAL, "iovcnt must be 1 .. 1024");
        }
        ulong sum = 0;
        for (int i = 0; i < iovCount; i++)
        {
            if (iovs[i].Base == null && iovs[i].Length != 0)
            {
                return LastError.Set(Errno.EINVAL, "an iovec has a NULL base");
            }
            if (((nuint)iovs[i].Base & alignMask) != 0)
            {
                return Misaligned();
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
        return Bdev.NeedsDmaBuffers ? CheckDma(iovs, iovCount, null, bytes) : 0;
    }

    /// <summary>A device that does its own DMA (user-space NVMe) reaches only the DMA pool,
    /// and describes a transfer in pages: iovecs may meet only at page boundaries.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int CheckDma(Iovec* iovs, int iovCount, void* buf, ulong bytes)
    {
        DmaPool? pool = NbEnvironment.Dma;
        if (buf != null)
        {
            return pool != null && pool.ContainsRange(buf, (nuint)bytes) ? 0 : NotDma();
        }
        const nuint page = 4096;
        for (int i = 0; i < iovCount; i++)
        {
            Iovec v = iovs[i];
            if (pool == null || !pool.ContainsRange(v.Base, v.Length))
            {
                return NotDma();
            }
            if ((i > 0 && ((nuint)v.Base & (page - 1)) != 0) || (i < iovCount - 1 && (((nuint)v.Base + v.Length) & (page - 1)) != 0))
            {
                return LastError.Set(Errno.EINVAL, $"iovec {i} of {iovCount}: bdev '{Bdev.Name}' needs iovecs to meet at 4 KiB page boundaries " +
                    "(every iovec but the first starts on one, every one but the last ends on one)");
            }
        }
        return 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int NotDma() => LastError.Set(Errno.EINVAL,
        $"bdev '{Bdev.Name}' ({Bdev.ModuleName}) transfers by DMA: buffers must come from nb_dma_malloc");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int Misaligned() => LastError.Set(Errno.EINVAL,
        $"buffer is not aligned to {Bdev.RequiredAlignment} bytes, as bdev '{Bdev.Name}' requires");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int IovLengthMismatch(ulong sum, ulong bytes) => LastError.Set(Errno.EINVAL,
        $"iovecs add up to {sum} bytes, the I/O is {bytes} bytes");

    // ---------------------------------------------------------------- completion

    /// <summary>Queues the completion for the next poll: what a backend calls from Submit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CompleteDeferred(BdevIo* io, int status)
    {
        io->Status = status;
        Append(ref _doneHead, ref _doneTail, io);
    }

    /// <summary>Completes now: what a backend calls from its Poll.</summary>
    public void Complete(BdevIo* io, int status)
    {
        io->Status = status;
        Finish(io, Thread.StampTicks);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Append(ref int head, ref int tail, BdevIo* io)
    {
        io->Next = -1;
        if (tail < 0)
        {
            head = io->Index;
        }
        else
        {
            _ios[tail].Next = io->Index;
        }
        tail = io->Index;
    }

    private void Finish(BdevIo* io, long now)
    {
        Debug.Assert(io->State == BdevIo.StateSubmitted, "completing an I/O that is not in flight");
        if ((io->Flags & BdevIo.FlagFaultApplied) == 0 && Bdev.Faults != null && CompletionFault(io, now))
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
                CountError(io, now);
            }
        }
        Stats.Histogram.Record((ulong)latency);
        if (io->Type != BdevIoType.Reset)
        {
            Outstanding--;
        }
        else
        {
            System.Threading.Interlocked.Decrement(ref Bdev.PendingResets);
            _resetsInBackend--;
        }
        io->State = BdevIo.StateCompleting;
        _reserve = 0;
        if (io->ManagedCallback == 0)
        {
            ((delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)io->Callback)(io, io->Status, (void*)io->CallbackArg);
        }
        else
        {
            ref ContextSlot slot = ref _contexts[io->Index];
            object? context = slot.Value;
            slot.Value = null;
            ((delegate*<BdevIo*, int, object?, nint, void>)io->Callback)(io, io->Status, context, io->CallbackArg);
        }
        _reserve = 1;
        if ((io->NvmeCdw0 | io->NvmeSct | io->NvmeSc) != 0)
        {
            io->NvmeCdw0 = 0;
            io->NvmeSct = 0;
            io->NvmeSc = 0;
        }
        io->State = BdevIo.StateFree;
        io->Next = _freeHead;
        _freeHead = io->Index;
        _freeCount++;
        if (_waiters.Count > 0)
        {
            RunWaiters();
        }
    }

    private static int PollThunk(object? o) => ((BdevChannel)o!).Poll();

    public int Poll()
    {
        int work = _module!.Poll(this);
        if (_doneHead >= 0)
        {
            work += DrainDeferred();
        }
        if (_resetHead >= 0)
        {
            work += ProgressResets();
        }
        if (_heldHead >= 0 && System.Threading.Volatile.Read(ref Bdev.PendingResets) == 0)
        {
            work += ReleaseHeld();
        }
        if (_delayedHead >= 0 || _stuckHead >= 0 || Bdev.TimeoutDescriptors > 0)
        {
            work += PollFaultsAndTimeouts();
        }
        return work;
    }

    private int DrainDeferred()
    {
        // Take the whole list: completions queued by callbacks that resubmit go to the next
        // poll, so one poll is bounded by what was queued when it started.
        int index = _doneHead;
        _doneHead = _doneTail = -1;
        long now = Thread.StampTicks;
        int n = 0;
        while (index >= 0)
        {
            BdevIo* io = &_ios[index];
            index = io->Next;
            Finish(io, now);
            n++;
        }
        return n;
    }

    /// <summary>A reset completes once no I/O submitted before it is outstanding on any
    /// channel of the bdev (SPDK's reset drains the bdev first).</summary>
    private int ProgressResets()
    {
        if (Bdev.OutstandingIo() > 0)
        {
            return 0;
        }
        // Drained: now the backend resets (and completes the reset like any I/O).
        int index = _resetHead;
        _resetHead = _resetTail = -1;
        int n = 0;
        while (index >= 0)
        {
            BdevIo* io = &_ios[index];
            index = io->Next;
            _resetsInBackend++;
            _module!.Submit(this, io);
            n++;
        }
        return n;
    }

    /// <summary>Every reset has completed: pass the I/O held meanwhile to the backend, in
    /// submission order.</summary>
    private int ReleaseHeld()
    {
        int index = _heldHead;
        _heldHead = _heldTail = -1;
        int n = 0;
        while (index >= 0)
        {
            BdevIo* io = &_ios[index];
            index = io->Next;
            io->Next = -1;
            Dispatch(io);
            n++;
        }
        return n;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CountError(BdevIo* io, long now)
    {
        if (Bdev.FailedFlag != 0)
        {
            return;
        }
        if (now - _errorWindowStart > DeviceMonitor.WindowTicks)
        {
            _errorWindowStart = now;
            _errorsInWindow = 0;
        }
        if (++_errorsInWindow >= DeviceMonitor.MaxErrors)
        {
            DeviceMonitor.Retire(Bdev, $"{_errorsInWindow} I/O errors within {Ticks.ToMicroseconds(DeviceMonitor.WindowTicks) / 1000:F0} ms " +
                $"on thread '{Thread.Name}' (last: {io->Type} at block {io->OffsetBlocks}, status {io->Status})");
        }
    }

    // ---------------------------------------------------------------- faults and timeouts

    /// <summary>Submit-stage rules: the first that fires decides. True if the I/O was
    /// taken (failed, delayed or stuck) instead of going to the backend.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool SubmitFault(BdevIo* io)
    {
        FaultRule[]? rules = Bdev.Faults;
        if (rules == null)
        {
            return false;
        }
        long now = Thread.StampTicks;
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
                    io->DelayUntil = now + r.DelayTicks;
                    io->Flags |= BdevIo.FlagDelayedSubmit;
                    Append(ref _delayedHead, ref _delayedTail, io);
                    return true;
                case FaultMethod.Timeout:
                    Append(ref _stuckHead, ref _stuckTail, io);
                    return true;
                default:
                    SetFaultStatus(io, r);
                    CompleteDeferred(io, io->Status);
                    return true;
            }
        }
        return false;
    }

    /// <summary>Completion-stage rules. True if the I/O is now held (delay, timeout).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool CompletionFault(BdevIo* io, long now)
    {
        FaultRule[]? rules = Bdev.Faults;
        if (rules == null || io->Type == BdevIoType.Reset)
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
                    io->DelayUntil = now + r.DelayTicks;
                    Append(ref _delayedHead, ref _delayedTail, io);
                    return true;
                case FaultMethod.Timeout:
                    Append(ref _stuckHead, ref _stuckTail, io);
                    return true;
                case FaultMethod.Data:
                    if (io->Status == 0)
                    {
                        CorruptReadData(io);
                    }
                    return false;
                default:
                    SetFaultStatus(io, r);
                    return false;
            }
        }
        return false;
    }

    private static void SetFaultStatus(BdevIo* io, FaultRule r)
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

    private int PollFaultsAndTimeouts()
    {
        long now = Thread.StampTicks;
        int n = 0;
        if (Bdev.TimeoutDescriptors > 0 && now >= _nextTimeoutScan)
        {
            _nextTimeoutScan = now + Ticks.Hz / 1000;
            n += ScanTimeouts(now);
        }
        if (_delayedHead >= 0)
        {
            n += ProgressDelayed(now);
        }
        if (_stuckHead >= 0 && System.Threading.Volatile.Read(ref Bdev.PendingResets) != 0)
        {
            // A reset releases what the fault rules hold, as SPDK's reset aborts queued I/O.
            n += ReleaseStuck(-Errno.ECANCELED, abortedOnly: false);
        }
        return n;
    }

    private int ProgressDelayed(long now)
    {
        int index = _delayedHead;
        _delayedHead = _delayedTail = -1;
        int n = 0;
        while (index >= 0)
        {
            BdevIo* io = &_ios[index];
            index = io->Next;
            bool abort = (io->Flags & BdevIo.FlagAbort) != 0;
            if (!abort && io->DelayUntil > now)
            {
                Append(ref _delayedHead, ref _delayedTail, io);
                continue;
            }
            n++;
            if (abort)
            {
                io->Status = -Errno.ETIMEDOUT;
                Finish(io, now);
            }
            else if ((io->Flags & BdevIo.FlagDelayedSubmit) != 0)
            {
                io->Flags &= unchecked((byte)~BdevIo.FlagDelayedSubmit);
                _module!.Submit(this, io);
            }
            else
            {
                Finish(io, now);
            }
        }
        return n;
    }

    private int ReleaseStuck(int status, bool abortedOnly)
    {
        int index = _stuckHead;
        _stuckHead = _stuckTail = -1;
        long now = Thread.StampTicks;
        int n = 0;
        while (index >= 0)
        {
            BdevIo* io = &_ios[index];
            index = io->Next;
            bool abort = (io->Flags & BdevIo.FlagAbort) != 0;
            if (abortedOnly && !abort)
            {
                Append(ref _stuckHead, ref _stuckTail, io);
                continue;
            }
            io->Status = abort ? -Errno.ETIMEDOUT : status;
            Finish(io, now);
            n++;
        }
        return n;
    }

    /// <summary>Calls each descriptor's timeout callback once for every I/O of it that is
    /// overdue; marks them for abort where the descriptor asked for it.</summary>
    private int ScanTimeouts(long now)
    {
        int aborts = 0;
        for (int i = 0; i < _poolSize; i++)
        {
            BdevIo* io = &_ios[i];
            if (io->State != BdevIo.StateSubmitted || (io->Flags & BdevIo.FlagTimedOut) != 0 ||
                io->Type == BdevIoType.Reset)
            {
                continue;
            }
            BdevDesc? d = HandleTable.Get<BdevDesc>(io->Desc, HandleType.BdevDesc);
            if (d == null || d.TimeoutTicks <= 0 || now - io->SubmitTicks < d.TimeoutTicks)
            {
                continue;
            }
            io->Flags |= BdevIo.FlagTimedOut;
            if (d.AbortOnTimeout)
            {
                io->Flags |= BdevIo.FlagAbort;
                aborts++;
            }
            if (d.TimeoutCallback != null)
            {
                io->Flags |= BdevIo.FlagInTimeoutCallback;
                d.TimeoutCallback(d.TimeoutContext, io);
                io->Flags &= unchecked((byte)~BdevIo.FlagInTimeoutCallback);
            }
        }
        if (aborts > 0)
        {
            if (_stuckHead >= 0)
            {
                ReleaseStuck(-Errno.ETIMEDOUT, abortedOnly: true);
            }
            if (_delayedHead >= 0)
            {
                ProgressDelayed(now);
            }
        }
        return aborts;
    }

    // ---------------------------------------------------------------- io wait

    /// <summary>spdk_bdev_queue_io_wait: fn(arg) runs on this thread once an I/O is free.</summary>
    public int QueueIoWait(nint fn, nint arg)
    {
        if (_freeCount > _reserve)
        {
            return LastError.Set(Errno.EINVAL, "the channel has free I/Os: submit instead of waiting");
        }
        _waiters.Enqueue((fn, arg));
        return 0;
    }

    private void RunWaiters()
    {
        // Bounded: each waiter gets one call per free I/O.
        int n = Math.Min(_waiters.Count, _freeCount - _reserve);
        for (int i = 0; i < n && _freeCount > _reserve; i++)
        {
            (nint fn, nint arg) = _waiters.Dequeue();
            ((delegate* unmanaged[Cdecl]<void*, void>)fn)((void*)arg);
        }
    }

    public object? ManagedContext(BdevIo* io) => _contexts[io->Index].Value;
}
