using System;
using System.Collections.Generic;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Reactor;

/// <summary>One pinned OS thread per core that polls the lightweight threads placed on it
/// (SPDK's reactor). Unlike SPDK it does not spin forever when idle: after
/// <see cref="SpinTicks"/> without work it sleeps until a message arrives or the next timed
/// poller is due, which answers Mayastor users' "100% CPU when idle" complaint. A spin
/// time of 0 sleeps at once; a negative one never sleeps (pure polling, as SPDK).</summary>
internal sealed unsafe class Reactor
{
    public readonly int Core;
    private readonly List<LightweightThread> _threads = new();
    private readonly List<LightweightThread> _waiting = new(); // placed here, owned by the host for now
    private readonly MpmcQueue<LightweightThread> _incoming = new(1024);
    private readonly ManualResetEventSlim _wake = new(false, 0);
    private readonly long _spinTicks;
    private Thread? _os;
    private volatile bool _stop;
    private int _sleeping;
    private int _startStatus;
    private int _osThread; // kernel thread id: the owner word of every thread this reactor runs
    private readonly ManualResetEventSlim _started = new(false);

    public int ThreadCount;
    public long Iterations;
    public long BusyIterations;
    public long Sleeps;

    public Reactor(int core, long spinMicroseconds)
    {
        Core = core;
        _spinTicks = spinMicroseconds < 0 ? long.MaxValue : Ticks.FromMicroseconds(spinMicroseconds);
    }

    public long SpinTicks => _spinTicks;

    /// <summary>The kernel thread id of the reactor's OS thread (0 before it runs).</summary>
    public int OsThread => Volatile.Read(ref _osThread);

    public int Start()
    {
        _os = new Thread(Run) { Name = $"reactor_{Core}", IsBackground = true };
        _os.Start();
        _started.Wait();
        return _startStatus;
    }

    public void Stop()
    {
        _stop = true;
        _wake.Set();
        _os?.Join();
    }

    public bool IsCurrentOsThread => Thread.CurrentThread == _os;

    public bool Add(LightweightThread t)
    {
        Interlocked.Increment(ref ThreadCount);
        t.Reactor = this;
        if (!_incoming.TryEnqueue(t))
        {
            Interlocked.Decrement(ref ThreadCount);
            t.Reactor = null;
            return false;
        }
        NotifyMessage();
        return true;
    }

    /// <summary>Wakes the reactor if it sleeps. The full fence pairs with the one in
    /// <see cref="Sleep"/>: either the sender sees the flag, or the reactor sees the item.</summary>
    public void NotifyMessage()
    {
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _sleeping) != 0)
        {
            _wake.Set();
        }
    }

    private void Run()
    {
        ulong* mask = stackalloc ulong[CpuSet.MaxCpus / 64];
        new Span<ulong>(mask, CpuSet.MaxCpus / 64).Clear();
        mask[Core >> 6] = 1UL << (Core & 63);
        if (Libc.sched_setaffinity(0, (nuint)(CpuSet.MaxCpus / 8), mask) != 0)
        {
            _startStatus = LastError.Set(Errno.EINVAL,
                $"cannot pin reactor to core {Core}: {Libc.StrError(Libc.LastErrno)}");
            _started.Set();
            return;
        }
        _osThread = LightweightThread.OsThreadId;
        _started.Set();
        long lastBusy = Ticks.Now;
        while (!_stop)
        {
            if (!_incoming.IsEmpty || _waiting.Count > 0)
            {
                Adopt();
            }
            long now = Ticks.Now;
            int busy = 0;
            for (int i = 0; i < _threads.Count; i++)
            {
                LightweightThread t = _threads[i];
                if (t.IsExited)
                {
                    _threads.RemoveAt(i--);
                    Release(t);
                    continue;
                }
                try
                {
                    busy += t.PollOnReactor(now);
                }
                catch (Exception e)
                {
                    Log.Error($"reactor {Core}: thread '{t.Name}' threw during poll: {e}");
                }
                if (t.IsExited) // let go at once: nb_thread_destroy waits for it
                {
                    _threads.RemoveAt(i--);
                    Release(t);
                }
            }
            Iterations++;
            if (busy > 0)
            {
                BusyIterations++;
                lastBusy = now;
            }
            else if (now - lastBusy >= _spinTicks)
            {
                Sleep(now);
                lastBusy = Ticks.Now - _spinTicks / 2; // after a wake, spin a while before sleeping again
            }
        }
        foreach (LightweightThread t in _threads)
        {
            Release(t);
        }
        foreach (LightweightThread t in _waiting)
        {
            t.Reactor = null;
        }
        while (_incoming.TryDequeue(out LightweightThread t))
        {
            t.Reactor = null;
        }
        _threads.Clear();
        _waiting.Clear();
        ThreadCount = 0;
    }

    /// <summary>Takes new threads. The reactor holds each one's claim for as long as it runs
    /// it, so its loop needs no atomic per thread per iteration. A thread the host is polling
    /// or has bound (nb_set_thread) waits, without blocking the reactor's other threads, until
    /// the host lets go; one destroyed meanwhile is dropped.</summary>
    private void Adopt()
    {
        while (_incoming.TryDequeue(out LightweightThread t))
        {
            _waiting.Add(t);
        }
        for (int i = 0; i < _waiting.Count; i++)
        {
            LightweightThread t = _waiting[i];
            if (t.IsDestroyed)
            {
                _waiting.RemoveAt(i--);
                Interlocked.Decrement(ref ThreadCount);
            }
            else if (t.TryClaimForReactor(_osThread))
            {
                _waiting.RemoveAt(i--);
                _threads.Add(t);
            }
        }
    }

    private void Release(LightweightThread t)
    {
        t.Reactor = null;
        Interlocked.Decrement(ref ThreadCount);
        t.ReleaseReactorClaim(_osThread);
    }

    private void Sleep(long now)
    {
        long timeout = long.MaxValue;
        bool active = false;
        foreach (LightweightThread t in _threads)
        {
            long d = t.TicksToNextTimer(now);
            if (d >= 0 && d < timeout)
            {
                timeout = d;
            }
            active |= t.HasActivePollers;
        }
        // An active poller may have work no message announces (a completion ring filling),
        // so it is looked at again within 1 ms; a thread of timers and messages only
        // sleeps until the next timer, at most 100 ms.
        long cap = Ticks.Hz / (active || _waiting.Count > 0 ? 1000 : 10);
        timeout = Math.Min(timeout, cap);
        int ms = (int)(timeout * 1000 / Ticks.Hz);
        if (ms <= 0)
        {
            return;
        }
        Volatile.Write(ref _sleeping, 1);
        Interlocked.MemoryBarrier();
        bool pending = !_incoming.IsEmpty || _stop;
        foreach (LightweightThread t in _threads)
        {
            pending |= t.PendingMessages > 0;
        }
        if (!pending)
        {
            Sleeps++;
            _wake.Wait(ms);
        }
        _wake.Reset();
        Volatile.Write(ref _sleeping, 0);
    }
}
