using System;
using System.Collections.Concurrent;
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
/// Everything except the message queues and the exit request is touched only by the OS
/// thread that owns it, so none of it needs a lock.</summary>
/// <remarks>One owner at a time, enforced: an OS thread owns a lightweight thread while a
/// reactor runs it, while it polls it (nb_thread_poll) and while it has it bound
/// (nb_set_thread). The claim is one word holding the owner's kernel thread id; the current
/// thread (<see cref="Current"/>) is only ever set under it, so every owner-thread check
/// (<see cref="IsCurrent"/>: pollers, io channels, I/O) is an ownership check.</remarks>
internal sealed unsafe class LightweightThread
{
    public const int DefaultMessageCapacity = EnvOptions.DefaultThreadMessageRingSize;
    public const int MinMessageCapacity = 64;
    public const int MaxMessageCapacity = 1 << 20;
    public const int DefaultMessageBatch = 32;
    private const long ExitTimeoutSeconds = 5;

    /// <summary>This thread's exit grace period (nb_thread_exit: 5 s); tests shorten it.</summary>
    internal long ExitTimeoutTicks = ExitTimeoutSeconds * Ticks.Hz;

    // What the owner (_owner, a kernel thread id) is doing with the thread.
    private const int OwnerNone = 0;
    private const int OwnerPolling = 1; // inside nb_thread_poll
    private const int OwnerBound = 2; // nb_set_thread
    private const int OwnerReactor = 3; // a reactor adopted it

    // Senders inside Send count in the low bits; Destroy adds GateClosed and waits for them, so
    // a message is either refused or in a queue before Destroy's last drain.
    private const int GateClosed = 1 << 30;

    /// <summary>The calling OS thread's kernel id, read once per OS thread.</summary>
    [ThreadStatic] private static int t_osThread;

    /// <summary>The thread the calling OS thread has bound with nb_set_thread (and owns).</summary>
    [ThreadStatic] private static LightweightThread? t_bound;

    // The current thread is Env's current context (ContextIndex.CurrentSlot: one int in one
    // thread-static, read by Env's mempool caches too), as this thread's Slot (0 = none).
    // Bind sets it outside polls; Poll saves and restores it.

    public readonly string Name;
    public readonly CpuSet? CpuMask;
    public readonly int Index;
    public nint Handle { get; private set; }

    private readonly MpmcQueue<Message> _messages;

    /// <summary>Control messages (events, iterations, channel life cycle, completions of
    /// control operations): unbounded, so a full data ring never loses one; counted, so the
    /// poll looks at the queue only when it holds something.</summary>
    private readonly ConcurrentQueue<Message> _control = new();
    private int _controlCount;
    private int _sendGate;
    private volatile bool _destroyed;
    private readonly List<Poller> _active = new();
    private readonly List<Poller> _timed = new();
    private bool _pollersChanged;
    internal readonly Dictionary<IoDevice, IoChannel> Channels = new();
    /// <summary>How many channels this thread has made: each channel's <see cref="IoChannel.Sequence"/>.</summary>
    internal long ChannelsMade;

    private int _owner; // kernel thread id of the owning OS thread, 0 for none
    private volatile int _ownerKind;
    private int _exitRequested;
    private long _exitDeadline;
    private volatile int _state;
    internal volatile Reactor? Reactor;

    /// <summary>The clock as of the start of the current poll step. A step that did work
    /// (a message, a busy poller) marks it stale and the next reader refreshes it, as does
    /// the start of each message (host code of unbounded length), so the
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

    /// <summary>Ticks from one poll to the next, counted as busy when the earlier poll did
    /// work and as idle when it did not (SPDK's thread busy/idle): no clock read of their own,
    /// and time a reactor sleeps between polls is idle.</summary>
    public long BusyTicks, IdleTicks;
    private long _lastPollStart;
    private bool _lastPollBusy;

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
    public int PendingMessages => _messages.Count + Volatile.Read(ref _controlCount);
    public int PendingControlMessages => Volatile.Read(ref _controlCount);
    public bool IsDestroyed => _destroyed;
    public int PollerCount => _active.Count + _timed.Count;

    /// <summary>Running active, running timed and paused pollers (thread_get_stats); on the
    /// thread itself, which alone changes the lists.</summary>
    public (int Active, int Timed, int Paused) PollerCounts()
    {
        int active = 0, timed = 0, paused = 0;
        foreach (Poller p in _active)
        {
            active += p.State == PollerState.Running ? 1 : 0;
            paused += p.State == PollerState.Paused ? 1 : 0;
        }
        foreach (Poller p in _timed)
        {
            timed += p.State == PollerState.Running ? 1 : 0;
            paused += p.State == PollerState.Paused ? 1 : 0;
        }
        return (active, timed, paused);
    }

    /// <param name="capacity">messages the ring holds (a power of two); 0 takes the
    /// environment's option (nb_env_opts.thread_msg_ring_size), else the default</param>
    /// <param name="hostPolled">never placed on a reactor: its creator polls it itself (a module's
    /// private thread for a short synchronous job, such as reading an lvol store's metadata)</param>
    public static int Create(string? name, CpuSet? mask, out LightweightThread? thread, int capacity = 0,
        bool hostPolled = false)
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
        if (!hostPolled)
        {
            ReactorSet.Schedule(t);
        }
        thread = t;
        return 0;
    }

    /// <summary>The calling OS thread's kernel id (gettid).</summary>
    internal static int OsThreadId
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int id = t_osThread;
            return id != 0 ? id : ReadOsThreadId();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ReadOsThreadId() => t_osThread = Libc.gettid();

    /// <summary>Binds this OS thread to <paramref name="thread"/> outside of polls (SPDK's
    /// spdk_set_thread), so calls that need a current thread work from the host's loop. The
    /// binding is ownership: refused (-EBUSY, naming the owner) while a reactor runs the thread
    /// or another OS thread polls or has bound it, and refused inside a poll (the poll would
    /// restore its own thread on return). Binding another thread or null releases the previous
    /// one; a refused call changes nothing.</summary>
    public static int Bind(LightweightThread? thread)
    {
        int me = OsThreadId;
        LightweightThread? current = Current;
        if (current != null && current.InPoll && Volatile.Read(ref current._owner) == me)
        {
            return LastError.Set(Errno.EBUSY, $"nb_set_thread cannot be called from inside a poll (thread '" +
                $"{current.Name}' is being polled on this OS thread, {me})");
        }
        LightweightThread? old = t_bound;
        if (old != null && (old._destroyed || Volatile.Read(ref old._owner) != me))
        {
            old = null;
        }
        if (thread != null && thread != old)
        {
            int rc = thread.ClaimForBinding(me);
            if (rc != 0)
            {
                return rc;
            }
        }
        if (old != null && old != thread)
        {
            old.ReleaseClaim();
        }
        t_bound = thread;
        ContextIndex.CurrentSlot = thread?.Slot ?? 0;
        return 0;
    }

    private int ClaimForBinding(int me)
    {
        if (Reactor != null)
        {
            return LastError.Set(Errno.EBUSY, $"thread '{Name}' {DescribeOwner()}; it cannot also be bound " +
                $"with nb_set_thread (this is OS thread {me})");
        }
        if (Interlocked.CompareExchange(ref _owner, me, 0) != 0 && !TakeFromEndedBinder(me))
        {
            return NotOwner("bound with nb_set_thread", me);
        }
        _ownerKind = OwnerBound;
        if (Reactor != null) // placed on a reactor meanwhile: it adopts the thread once free
        {
            ReleaseClaim();
            return LastError.Set(Errno.EBUSY, $"thread '{Name}' {DescribeOwner()}; it cannot also be bound " +
                $"with nb_set_thread (this is OS thread {me})");
        }
        return 0;
    }

    /// <summary>A binding ends with the OS thread that made it: an OS thread that bound this
    /// thread and ended without unbinding no longer owns it. Looked at only when a claim is
    /// refused (a directory look-up in /proc).</summary>
    private bool TakeFromEndedBinder(int me)
    {
        int owner = Volatile.Read(ref _owner);
        if (owner == 0 || _ownerKind != OwnerBound || System.IO.Directory.Exists($"/proc/self/task/{owner}"))
        {
            return false;
        }
        if (Interlocked.CompareExchange(ref _owner, me, owner) != owner)
        {
            return false;
        }
        Log.Warn($"thread '{Name}' was bound by OS thread {owner}, which ended without unbinding it: " +
                 $"OS thread {me} takes it over");
        return true;
    }

    // No thread id argument: reading it costs a thread-local access per poll, and only the
    // invariant (compiled out of release builds) needs it.
    private void ReleaseClaim()
    {
        Invariant.Assert(Volatile.Read(ref _owner) == OsThreadId,
            "a thread's claim released by an OS thread not holding it");
        _ownerKind = OwnerNone;
        Volatile.Write(ref _owner, 0);
        Reactor?.NotifyMessage(); // a reactor waiting to adopt it
    }

    /// <summary>Who owns the thread, for messages: "is run by reactor 2 (OS thread 1234)".</summary>
    internal string DescribeOwner()
    {
        int kind = _ownerKind;
        int owner = Volatile.Read(ref _owner);
        Reactor? r = Reactor;
        if (owner == 0)
        {
            return r != null ? $"is placed on reactor {r.Core}" : "is owned by no OS thread";
        }
        return kind switch
        {
            OwnerReactor => $"is run by reactor {r?.Core.ToString() ?? "?"} (OS thread {owner})",
            OwnerBound => $"is bound with nb_set_thread by OS thread {owner}",
            OwnerPolling => $"is being polled by OS thread {owner}",
            _ => $"is held by OS thread {owner}",
        };
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int NotOwner(string what, int me) =>
        LastError.Set(Errno.EBUSY, $"thread '{Name}' {DescribeOwner()}; it cannot also be {what} by " +
            $"OS thread {me} (a thread has one owner at a time)");

    /// <summary>The refusal for a call that needs this thread current from an OS thread that is
    /// not acting for it: names the thread and who owns it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal string OwnerHint() => $"thread '{Name}' {DescribeOwner()}; this is OS thread {OsThreadId}";

    /// <summary>spdk_thread_send_msg: queue <paramref name="m"/> on the data ring; always
    /// asynchronous, from any OS thread. -ENOMEM when the ring is full, -EIO when the thread has
    /// exited. A message accepted (0) runs: on a later poll, or when the thread is destroyed.</summary>
    public int Send(in Message m) => Enqueue(m, control: false);

    public int Send(delegate*<object?, nint, void> fn, object? context, nint arg = 0) =>
        Enqueue(Message.Managed(fn, context, arg), control: false);

    /// <summary>A control message (events, iterations, channel life cycle, deferred
    /// completions): on the control queue, which a full data ring never refuses. -EIO only when
    /// the thread has exited.</summary>
    public int SendControl(delegate*<object?, nint, void> fn, object? context, nint arg = 0) =>
        Enqueue(Message.Managed(fn, context, arg), control: true);

    private int Enqueue(in Message m, bool control)
    {
        if (Interlocked.Increment(ref _sendGate) >= GateClosed || _state == (int)ThreadState.Exited)
        {
            Interlocked.Decrement(ref _sendGate);
            return LastError.Set(Errno.EIO, $"thread '{Name}' has exited and takes no messages");
        }
        bool queued = true;
        if (control)
        {
            // Counted before it is queued, so the count never says less than the queue holds
            // (a poll may then find the queue empty once, and looks again next time).
            if (Interlocked.Increment(ref _controlCount) % 65536 == 0)
            {
                Log.Warn($"thread '{Name}' has {Volatile.Read(ref _controlCount)} control messages waiting: " +
                         "is it polled?");
            }
            _control.Enqueue(m);
        }
        else
        {
            queued = _messages.TryEnqueue(m);
        }
        Interlocked.Decrement(ref _sendGate);
        if (!queued)
        {
            return LastError.Set(Errno.ENOMEM, $"thread '{Name}''s message ring is full");
        }
        Reactor?.NotifyMessage();
        return 0;
    }

    /// <summary>Claims the thread for this OS thread as a poll does (false if anyone owns it,
    /// this OS thread included); <see cref="ExitPoll"/> lets go. For hosts written in C# (the
    /// tests) that drive <see cref="Poll"/> themselves.</summary>
    internal bool TryEnterPoll()
    {
        if (Interlocked.CompareExchange(ref _owner, OsThreadId, 0) != 0)
        {
            return false;
        }
        _ownerKind = OwnerPolling;
        return true;
    }

    internal void ExitPoll() => ReleaseClaim();

    /// <summary>Acts for this thread from the calling OS thread for a while, without changing
    /// its binding: claims it unless this OS thread owns it already (<paramref name="claimed"/>
    /// says which), and makes it current. -EBUSY (naming the owner) when another OS thread owns
    /// it. <see cref="Leave"/> undoes both.</summary>
    internal int Enter(out bool claimed, out int previousSlot)
    {
        int me = OsThreadId;
        previousSlot = ContextIndex.CurrentSlot;
        claimed = false;
        if (Volatile.Read(ref _owner) != me)
        {
            if (Reactor != null
                || Interlocked.CompareExchange(ref _owner, me, 0) != 0 && !TakeFromEndedBinder(me))
            {
                return NotOwner("used", me);
            }
            _ownerKind = OwnerPolling;
            claimed = true;
        }
        ContextIndex.CurrentSlot = Slot;
        return 0;
    }

    internal void Leave(bool claimed, int previousSlot)
    {
        ContextIndex.CurrentSlot = previousSlot;
        if (claimed)
        {
            ReleaseClaim();
        }
    }

    /// <summary>A reactor's claim (<paramref name="reactorOsThread"/> is its kernel thread id):
    /// false while the host polls or has bound the thread; the reactor tries again later.</summary>
    internal bool TryClaimForReactor(int reactorOsThread)
    {
        if (_destroyed || Interlocked.CompareExchange(ref _owner, reactorOsThread, 0) != 0)
        {
            return false;
        }
        _ownerKind = OwnerReactor;
        return true;
    }

    internal void ReleaseReactorClaim(int reactorOsThread)
    {
        if (Volatile.Read(ref _owner) == reactorOsThread)
        {
            _ownerKind = OwnerNone;
            Volatile.Write(ref _owner, 0);
        }
    }

    /// <summary>One poll: up to <paramref name="maxMessages"/> messages, every active poller,
    /// every timed poller that is due. Returns the amount of work done (0 = idle). The
    /// caller holds the poll claim. Restores the caller's current thread afterwards, so a
    /// host may poll from inside code bound to another thread.</summary>
    public int Poll(int maxMessages, long now)
    {
        Invariant.Assert(Volatile.Read(ref _owner) == OsThreadId, "Poll by an OS thread not owning the thread");
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
    /// second OS thread (or a reactor) polling the same thread an error instead of a data race;
    /// the OS thread that bound the thread (nb_set_thread) already owns it and polls it as is.</summary>
    public int HostPoll(int maxMessages, long now)
    {
        int me = OsThreadId;
        int owner = Volatile.Read(ref _owner);
        if (owner == me)
        {
            if (InPoll)
            {
                return Recursive(me);
            }
            if (_ownerKind == OwnerBound)
            {
                return Poll(maxMessages, now);
            }
        }
        if (Reactor != null)
        {
            return RefusedPoll(me);
        }
        if (Interlocked.CompareExchange(ref _owner, me, 0) != 0 && !TakeFromEndedBinder(me))
        {
            return RefusedPoll(me);
        }
        _ownerKind = OwnerPolling;
        try
        {
            return Poll(maxMessages, now);
        }
        finally
        {
            _ownerKind = OwnerNone;
            Volatile.Write(ref _owner, 0);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int Recursive(int me) =>
        LastError.Set(Errno.EBUSY, $"nb_thread_poll of thread '{Name}' called from inside a poll of the same " +
            $"thread on the same OS thread ({me}), from one of its pollers or messages: polls do not nest");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int RefusedPoll(int me) => NotOwner("polled", me);

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
        if (_lastPollStart != 0 && now > _lastPollStart)
        {
            if (_lastPollBusy)
            {
                BusyTicks += now - _lastPollStart;
            }
            else
            {
                IdleTicks += now - _lastPollStart;
            }
        }
        _lastPollStart = now;
        int work = 0;
        if (maxMessages <= 0)
        {
            maxMessages = DefaultMessageBatch;
        }
        if (Volatile.Read(ref _controlCount) != 0)
        {
            work = RunControl(maxMessages);
        }
        while (work < maxMessages && _messages.TryDequeueSingle(out Message m))
        {
            // A message is host code of any length (bdevperf's job_start maps and pins its
            // buffers, 24-170 ms, then submits its first I/Os): its first stamp reads the clock,
            // or an I/O it submits counts the step's earlier work as its own latency.
            _ticksStale = true;
            m.Invoke();
            work++;
        }
        MessagesProcessed += work;
        _ticksStale |= work > 0;
        // A span over the list's array: one bounds check per poll, not two per poller. A poller
        // registered meanwhile lands in the list, not in this span: it runs from the next poll.
        foreach (Poller p in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_active))
        {
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
        _lastPollBusy = work > 0;
        return work;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int RunControl(int max)
    {
        int done = 0;
        while (done < max && _control.TryDequeue(out Message m))
        {
            Interlocked.Decrement(ref _controlCount);
            _ticksStale = true; // host code, as a data message (PollOnce)
            m.Invoke();
            done++;
        }
        return done;
    }

    /// <summary>Runs every waiting message, control and data (the caller acts as the thread):
    /// a forced exit and Destroy.</summary>
    private int DrainMessages()
    {
        int done = 0;
        while (true)
        {
            int n = RunControl(int.MaxValue);
            while (_messages.TryDequeueSingle(out Message m))
            {
                m.Invoke();
                n++;
            }
            if (n == 0)
            {
                return done;
            }
            done += n;
        }
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
            return LastError.Set(Errno.EINVAL, $"pollers must be registered on their own thread ({OwnerHint()})");
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
            return LastError.Set(Errno.EINVAL, $"a poller must be unregistered on its own thread ({OwnerHint()})");
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
            return LastError.Set(Errno.EINVAL,
                $"a poller must be paused or resumed on its own thread ({OwnerHint()})");
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
            _exitDeadline = now + ExitTimeoutTicks;
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
        bool idle = !pollersLeft && Channels.Count == 0 && _messages.IsEmpty && Volatile.Read(ref _controlCount) == 0;
        if (!idle && now < _exitDeadline)
        {
            return;
        }
        if (!idle)
        {
            ForceExit();
        }
        _state = (int)ThreadState.Exited;
    }

    /// <summary>The grace period is over: what the thread still holds is released here, as
    /// the thread, so no device waits for a channel nobody can put any more (its handle becomes
    /// stale) — each channel's destroy callback runs, then the messages that caused (a channel
    /// putting the per-thread channels under it), then the pollers left go.</summary>
    private void ForceExit()
    {
        Log.Error($"thread '{Name}' forced to exit after {ExitTimeoutTicks * 1000 / Ticks.Hz} ms with " +
                  $"{PollerCount} pollers, {Channels.Count} io channels and {PendingMessages} messages left: " +
                  "releasing them");
        // The newest channel first: a channel made inside another's create callback (a bdev
        // channel's per-thread layer state) finished first and is used by it, so it goes after.
        // Each release may put channels under it, by message: those run before the next pick.
        for (int round = 0; round < 4096 && (Channels.Count > 0 || PendingMessages > 0); round++)
        {
            IoChannel? newest = null;
            foreach (IoChannel ch in Channels.Values)
            {
                if (newest == null || ch.Sequence > newest.Sequence)
                {
                    newest = ch;
                }
            }
            if (newest != null)
            {
                Log.Error($"thread '{Name}': releasing its io channel of '{newest.Device.Name}' " +
                          $"({newest.RefCount} references never put)");
                newest.ForceRelease();
            }
            DrainMessages();
        }
        foreach (Poller p in _active)
        {
            ForgetPoller(p);
        }
        foreach (Poller p in _timed)
        {
            ForgetPoller(p);
        }
        _active.Clear();
        _timed.Clear();
    }

    private static void ForgetPoller(Poller p)
    {
        if (p.State != PollerState.Unregistered)
        {
            p.State = PollerState.Unregistered;
            Handles.Release(p.Handle);
        }
    }

    /// <summary>spdk_thread_destroy: frees an exited thread. The handle becomes stale. Only the
    /// thread's owner may destroy it (the OS thread that bound it, or any OS thread once no one
    /// owns it; a reactor lets go of an exited thread at once). Messages accepted before are run
    /// here, as the thread; senders racing this call are either refused or run.</summary>
    public int Destroy()
    {
        if (_destroyed)
        {
            return LastError.Set(Errno.EBADF, $"thread '{Name}' has already been destroyed");
        }
        if (_state != (int)ThreadState.Exited)
        {
            return LastError.Set(Errno.EBUSY, $"thread '{Name}' has not exited (call nb_thread_exit and keep polling)");
        }
        int me = OsThreadId;
        if (Volatile.Read(ref _owner) == me)
        {
            if (InPoll)
            {
                return LastError.Set(Errno.EBUSY, $"thread '{Name}' cannot be destroyed from inside its own poll");
            }
        }
        else
        {
            Reactor?.NotifyMessage(); // a sleeping reactor lets go of it on its next iteration
            long deadline = Ticks.Now + Ticks.Hz / 10;
            while (Interlocked.CompareExchange(ref _owner, me, 0) != 0 && !TakeFromEndedBinder(me))
            {
                if (Ticks.Now > deadline)
                {
                    return LastError.Set(Errno.EBUSY, $"thread '{Name}' {DescribeOwner()}: only its owner " +
                        $"can destroy it (this is OS thread {me})");
                }
                System.Threading.Thread.Yield();
            }
        }
        _ownerKind = OwnerNone;
        // From here a sender is refused, or it is inside Enqueue and its message will be in a
        // queue for the drain below once the gate's count falls to zero.
        Interlocked.Add(ref _sendGate, GateClosed);
        while ((Volatile.Read(ref _sendGate) & (GateClosed - 1)) != 0)
        {
            System.Threading.Thread.Yield();
        }
        if (t_bound == this)
        {
            t_bound = null;
        }
        int previous = ContextIndex.CurrentSlot;
        ContextIndex.CurrentSlot = Slot;
        DrainMessages();
        ContextIndex.CurrentSlot = previous == Slot ? 0 : previous;
        _destroyed = true;
        ThreadRegistry.Remove(this);
        Handles.Release(Handle);
        return 0;
    }
}
