using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Reactor;

/// <summary>SPDK's spdk_thread: a lightweight execution context with its own lock-free
/// message ring, pollers and io channels. It is polled by exactly one OS thread at a time:
/// a reactor (managed mode) or the host's own loop through nb_thread_poll (library mode).
/// Everything except the message ring and the exit request is touched only by the OS
/// thread polling it, so none of it needs a lock.</summary>
internal sealed unsafe class LightweightThread
{
    public const int DefaultMessageCapacity = EnvOptions.DefaultThreadMessageRingSize;
    public const int MinMessageCapacity = 64;
    public const int MaxMessageCapacity = 1 << 20;
    public const int DefaultMessageBatch = 32;
    private const long ExitTimeoutSeconds = 5;

    // The current thread is Env's current context (ContextIndex.CurrentSlot: one int in one
    // thread-static, read by Env's mempool caches too), as this thread's Slot (0 = none).
    // Bind sets it outside polls; Poll saves and restores it.

    public readonly string Name;
    public readonly CpuSet? CpuMask;
    public readonly int Index;
    public nint Handle { get; private set; }

    private readonly MpmcQueue<Message> _messages;
    private readonly List<Poller> _active = new();
    private readonly List<Poller> _timed = new();
    private bool _pollersChanged;
    internal readonly Dictionary<IoDevice, IoChannel> Channels = new();

    private int _polling; // 1 while an OS thread is inside Poll
    private int _exitRequested;
    private long _exitDeadline;
    private volatile int _state;
    internal volatile Reactor? Reactor;

    /// <summary>The clock as of the start of the current poll step. A step that did work
    /// (a message, a busy poller) marks it stale and the next reader refreshes it, so the
    /// I/O path stamps submissions and completions without a clock read per I/O, and a poll
    /// that only spins reads the clock once.</summary>
    public long PollTicks;
    public bool InPoll;
    private bool _ticksStale;

    /// <summary>The time for an I/O stamp: the poll's clock inside a poll, else a fresh read.</summary>
    public long StampTicks
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (!InPoll)
            {
                return Ticks.Now;
            }
            if (_ticksStale)
            {
                PollTicks = Ticks.Now;
                _ticksStale = false;
            }
            return PollTicks;
        }
    }

    public long MessagesProcessed;
    public long PollCount;
    public long BusyPolls;

    private LightweightThread(string name, CpuSet? mask, int index, int capacity)
    {
        Name = name;
        CpuMask = mask;
        Index = index;
        Slot = ContextIndex.NewSlot(index);
        _messages = new MpmcQueue<Message>(capacity, lazy: true); // memory as messages arrive
    }

    /// <summary>The thread being polled on this OS thread, else the one bound with
    /// <see cref="Bind"/>, else null.</summary>
    public static LightweightThread? Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int slot = ContextIndex.CurrentSlot;
            if (slot == 0)
            {
                return null;
            }
            LightweightThread? t = ThreadRegistry.ByIndex[ContextIndex.IndexOf(slot)];
            return t != null && t.Slot == slot ? t : null; // a destroyed thread's index may be reused
        }
    }

    /// <summary>The owner-thread rule: whether this is the thread the calling OS thread is
    /// acting for. A thread's pollers, channels and caches are touched only from it, by design
    /// without locks, so every core entry that uses them asks this first (a channel asks it as
    /// <see cref="IoChannel.IsOwnedByCurrentThread"/>, the same comparison).</summary>
    public bool IsCurrent
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Current == this;
    }

    /// <summary>This thread's slot number (<see cref="ContextIndex.NewSlot"/>): unique among live
    /// threads, and a slot left behind on an OS thread by a destroyed thread does not name its
    /// index's next occupant.</summary>
    internal readonly int Slot;

    public ThreadState State => (ThreadState)_state;
    public bool ExitRequested => Volatile.Read(ref _exitRequested) != 0;
    public bool IsExited => _state == (int)ThreadState.Exited;
    public int PendingMessages => _messages.Count;
    public int PollerCount => _active.Count + _timed.Count;

    /// <param name="capacity">messages the ring holds (a power of two); 0 takes the
    /// environment's option (nb_env_opts.thread_msg_ring_size), else the default</param>
    public static int Create(string? name, CpuSet? mask, out LightweightThread? thread, int capacity = 0)
    {
        thread = null;
        if (capacity <= 0)
        {
            capacity = NbEnvironment.Options?.ThreadMessageRingSize ?? DefaultMessageCapacity;
        }
        int index = ThreadRegistry.ReserveIndex();
        if (index < 0)
        {
            return LastError.Set(Errno.ENOMEM, $"too many threads (at most {ThreadRegistry.MaxThreads})");
        }
        var t = new LightweightThread(name ?? $"thread{index}", mask, index, capacity);
        t.Handle = Handles.Allocate(t);
        ThreadRegistry.Add(t);
        ReactorSet.Schedule(t);
        thread = t;
        return 0;
    }

    /// <summary>Binds this OS thread to <paramref name="thread"/> outside of polls (SPDK's
    /// spdk_set_thread), so calls that need a current thread work from the host's loop.</summary>
    public static void Bind(LightweightThread? thread) => ContextIndex.CurrentSlot = thread?.Slot ?? 0;

    /// <summary>spdk_thread_send_msg: queue <paramref name="m"/>; always asynchronous, from
    /// any OS thread. -ENOMEM when the ring is full, -EIO when the thread has exited.</summary>
    public int Send(in Message m)
    {
        if (_state == (int)ThreadState.Exited)
        {
            return LastError.Set(Errno.EIO, "thread has exited and takes no messages");
        }
        if (!_messages.TryEnqueue(m))
        {
            return LastError.Set(Errno.ENOMEM, "thread's message ring is full");
        }
        Reactor?.NotifyMessage();
        return 0;
    }

    public int Send(delegate*<object?, nint, void> fn, object? context, nint arg = 0) =>
        Send(Message.Managed(fn, context, arg));

    /// <summary>Claims the right to poll; false if another OS thread is polling.</summary>
    public bool TryEnterPoll() => Interlocked.CompareExchange(ref _polling, 1, 0) == 0;

    public void ExitPoll() => Volatile.Write(ref _polling, 0);

    /// <summary>One poll: up to <paramref name="maxMessages"/> messages, every active poller,
    /// every timed poller that is due. Returns the amount of work done (0 = idle). The
    /// caller holds the poll claim. Restores the caller's current thread afterwards, so a
    /// host may poll from inside code bound to another thread.</summary>
    public int Poll(int maxMessages, long now)
    {
        Invariant.Assert(Volatile.Read(ref _polling) == 1, "Poll without the poll claim");
        int previous = ContextIndex.CurrentSlot;
        bool wasInPoll = InPoll;
        ContextIndex.CurrentSlot = Slot;
        try
        {
            return PollOnce(maxMessages, now != 0 ? now : Ticks.Now);
        }
        finally
        {
            ContextIndex.CurrentSlot = previous;
            InPoll = wasInPoll;
        }
    }

    /// <summary>One poll from a host's own loop (nb_thread_poll, library mode). The claim makes a
    /// second OS thread (or a reactor) polling the same thread an error instead of a data race.</summary>
    public int HostPoll(int maxMessages, long now)
    {
        if (Reactor != null)
        {
            return LastError.Set(Errno.EBUSY, "thread is run by a reactor; it cannot also be polled by the host");
        }
        if (!TryEnterPoll())
        {
            return LastError.Set(Errno.EBUSY, "thread is being polled by another OS thread");
        }
        try
        {
            return Poll(maxMessages, now);
        }
        finally
        {
            ExitPoll();
        }
    }

    /// <summary>A reactor's poll: the reactor holds the claim for as long as it runs the
    /// thread and has nothing of its own to restore, and it read the clock once for all its
    /// threads in this iteration.</summary>
    internal int PollOnReactor(long now)
    {
        ContextIndex.CurrentSlot = Slot;
        int work = PollOnce(0, now);
        InPoll = false;
        return work;
    }

    private int PollOnce(int maxMessages, long now)
    {
        InPoll = true;
        PollTicks = now;
        _ticksStale = false;
        int work = 0;
        if (maxMessages <= 0)
        {
            maxMessages = DefaultMessageBatch;
        }
        while (work < maxMessages && _messages.TryDequeueSingle(out Message m))
        {
            m.Invoke();
            work++;
        }
        MessagesProcessed += work;
        _ticksStale |= work > 0;
        for (int i = 0, n = _active.Count; i < n; i++)
        {
            Poller p = _active[i];
            if (p.State == PollerState.Running && p.Run() > 0)
            {
                work++;
                _ticksStale = true;
            }
        }
        if (_timed.Count > 0)
        {
            long t = StampTicks;
            for (int i = 0, n = _timed.Count; i < n; i++)
            {
                Poller p = _timed[i];
                if (p.State == PollerState.Running && p.NextRunTicks <= t)
                {
                    p.NextRunTicks = t + p.PeriodTicks;
                    if (p.Run() > 0)
                    {
                        work++;
                        _ticksStale = true;
                    }
                }
            }
        }
        if (_pollersChanged)
        {
            CompactPollers();
        }
        if (Volatile.Read(ref _exitRequested) != 0)
        {
            ProgressExit();
        }
        PollCount++;
        if (work > 0)
        {
            BusyPolls++;
        }
        return work;
    }

    /// <summary>Ticks until the next timed poller is due (0 if one is due now), or -1 if
    /// there is none. Used by a reactor to decide how long it may sleep.</summary>
    public long TicksToNextTimer(long now)
    {
        long best = -1;
        foreach (Poller p in _timed)
        {
            if (p.State != PollerState.Running)
            {
                continue;
            }
            long d = Math.Max(0, p.NextRunTicks - now);
            if (best < 0 || d < best)
            {
                best = d;
            }
        }
        return best;
    }

    public bool HasActivePollers
    {
        get
        {
            foreach (Poller p in _active)
            {
                if (p.State == PollerState.Running)
                {
                    return true;
                }
            }
            return false;
        }
    }

    public int RegisterPoller(string name, long periodMicroseconds, nint fn, nint arg, object? context, bool managed,
        out Poller? poller)
    {
        poller = null;
        if (!IsCurrent)
        {
            return LastError.Set(Errno.EINVAL, $"pollers must be registered on their own thread ('{Name}')");
        }
        if (_state != (int)ThreadState.Running || ExitRequested)
        {
            return LastError.Set(Errno.EINVAL, $"thread '{Name}' is exiting and takes no new pollers");
        }
        if (periodMicroseconds < 0 || periodMicroseconds > 3_600_000_000L)
        {
            return LastError.Set(Errno.EINVAL, $"poller period {periodMicroseconds} us is out of range (0 .. 1 hour)");
        }
        var p = new Poller(this, name, Ticks.FromMicroseconds(periodMicroseconds), fn, arg, context, managed);
        p.Handle = Handles.Allocate(p);
        (periodMicroseconds == 0 ? _active : _timed).Add(p);
        poller = p;
        return 0;
    }

    public int UnregisterPoller(Poller p)
    {
        if (!IsCurrent)
        {
            return LastError.Set(Errno.EINVAL, $"a poller must be unregistered on its own thread ('{Name}')");
        }
        if (p.State == PollerState.Unregistered)
        {
            return LastError.Set(Errno.EINVAL, "poller is already unregistered");
        }
        p.State = PollerState.Unregistered;
        Handles.Release(p.Handle);
        _pollersChanged = true;
        return 0;
    }

    public int SetPollerPaused(Poller p, bool paused)
    {
        if (!IsCurrent)
        {
            return LastError.Set(Errno.EINVAL, $"a poller must be paused or resumed on its own thread ('{Name}')");
        }
        if (p.State == PollerState.Unregistered)
        {
            return LastError.Set(Errno.EINVAL, "poller is unregistered");
        }
        if (!paused && p.State == PollerState.Paused)
        {
            p.NextRunTicks = Ticks.Now + p.PeriodTicks;
        }
        p.State = paused ? PollerState.Paused : PollerState.Running;
        return 0;
    }

    private void CompactPollers()
    {
        _active.RemoveAll(static p => p.State == PollerState.Unregistered);
        _timed.RemoveAll(static p => p.State == PollerState.Unregistered);
        _pollersChanged = false;
    }

    /// <summary>spdk_thread_exit: asks the thread to exit. It finishes once its messages are
    /// drained, its pollers unregistered and its io channels released (or after a 5 s
    /// grace period, with an error logged). Callable from any OS thread.</summary>
    public int RequestExit()
    {
        if (Interlocked.Exchange(ref _exitRequested, 1) != 0)
        {
            return LastError.Set(Errno.EALREADY, $"thread '{Name}' is already exiting");
        }
        Reactor?.NotifyMessage();
        return 0;
    }

    private void ProgressExit()
    {
        long now = Ticks.Now;
        if (_state == (int)ThreadState.Running)
        {
            _state = (int)ThreadState.Exiting;
            _exitDeadline = now + ExitTimeoutSeconds * Ticks.Hz;
        }
        bool pollersLeft = false;
        foreach (Poller p in _active)
        {
            pollersLeft |= p.State != PollerState.Unregistered;
        }
        foreach (Poller p in _timed)
        {
            pollersLeft |= p.State != PollerState.Unregistered;
        }
        bool idle = !pollersLeft && Channels.Count == 0 && _messages.IsEmpty;
        if (!idle && now < _exitDeadline)
        {
            return;
        }
        if (!idle)
        {
            Log.Error($"thread '{Name}' exited after {ExitTimeoutSeconds} s with {PollerCount} pollers, " +
                      $"{Channels.Count} io channels and {_messages.Count} messages left behind");
            foreach (Poller p in _active)
            {
                Handles.Release(p.Handle);
            }
            foreach (Poller p in _timed)
            {
                Handles.Release(p.Handle);
            }
            _active.Clear();
            _timed.Clear();
        }
        _state = (int)ThreadState.Exited;
    }

    /// <summary>spdk_thread_destroy: frees an exited thread. The handle becomes stale.</summary>
    public int Destroy()
    {
        if (_state != (int)ThreadState.Exited)
        {
            return LastError.Set(Errno.EBUSY, $"thread '{Name}' has not exited (call nb_thread_exit and keep polling)");
        }
        // A reactor lets go of an exited thread on its next iteration: wait that long.
        long deadline = Ticks.Now + Ticks.Hz / 10;
        while (!TryEnterPoll())
        {
            if (Ticks.Now > deadline || ContextIndex.CurrentSlot == Slot && InPoll)
            {
                return LastError.Set(Errno.EBUSY, $"thread '{Name}' is being polled");
            }
            System.Threading.Thread.Yield();
        }
        if (ContextIndex.CurrentSlot == Slot)
        {
            ContextIndex.CurrentSlot = 0;
        }
        // A sender that saw the thread running may have queued a message after its last
        // poll: it was accepted, so it runs (here, as the thread) rather than vanish.
        int previous = ContextIndex.CurrentSlot;
        ContextIndex.CurrentSlot = Slot;
        while (_messages.TryDequeueSingle(out Message m))
        {
            m.Invoke();
        }
        ContextIndex.CurrentSlot = previous == Slot ? 0 : previous;
        ThreadRegistry.Remove(this);
        Handles.Release(Handle);
        return 0;
    }
}
