using System.Runtime.CompilerServices;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>The bdev layer's state on one thread, shared by every bdev channel there (SPDK's
/// bdev management channel and shared resource): the I/O pool, the done queue of
/// completions deferred out of a submit, and the one poller that does the layer's own
/// work — those completions, then resets, held and fault-delayed I/O and descriptor
/// timeouts for the channels that have some. An idle channel costs this poller nothing,
/// so a thousand open bdevs on a thread poll like one; a deferred completion costs one
/// push and one pop, whichever channel it belongs to. With nothing to do the poller sleeps
/// (the thread's poll loop skips it), so a thread whose I/O completes from a backend's own
/// poller (NVMe, uring, aio) polls one poller, not two; a deferred completion, slow work or a
/// descriptor timeout anywhere wakes it. It is the per-thread state of an io device: made
/// with the first bdev channel of a thread, released after the last.</summary>
internal sealed unsafe class BdevThread : IPerThreadState
{
    /// <summary>The io device whose channels are these: reached directly, never by key.</summary>
    public static readonly IoDevice Device = new PerThreadDevice<BdevThread>("bdev layer", t => new BdevThread(t));

    public readonly LightweightThread Thread;
    public readonly BdevIoPool Pool;
    private IoQueue _done = new(IoQueueName.Done);
    // Channels by slot (a reference stored once per channel, not per I/O), the free slots,
    // and the slots of channels with slow layer work (an int stack: no GC write barrier).
    private BdevChannel?[] _channels = new BdevChannel?[16];
    private int[] _freeSlots = new int[16];
    private int _freeCount;
    private int _slotsUsed;
    private int[] _busy = new int[16];
    private int _busyCount;
    private int _channelCount;
    private Poller? _poller;
    private bool _asleep; // the poller sleeps: set and cleared on this thread (Wake may also run it)
    private int _idlePolls; // consecutive polls without work: the poller sleeps after IdlePollsToSleep
    // Enough that a thread whose I/O is deferred on every poll (a synchronous backend) never
    // sleeps and wakes per I/O, few enough that one whose I/O never is stops paying at once.
    private const int IdlePollsToSleep = 64;
    private long _nextTimeoutScan;

    // Every thread's layer state, for the wake a new descriptor timeout needs (control path).
    private static readonly System.Collections.Generic.List<BdevThread> s_all = new();

    private BdevThread(LightweightThread thread)
    {
        Thread = thread;
        Pool = new BdevIoPool(thread);
    }

    public int Start()
    {
        int rc = Thread.RegisterPoller("bdev_layer", 0, (nint)(delegate*<object?, int>)&PollThunk, 0, this,
            managed: true, out _poller);
        if (rc == 0)
        {
            lock (s_all)
            {
                s_all.Add(this);
            }
        }
        return rc;
    }

    /// <summary>A descriptor somewhere got a timeout: every thread's poller scans again, for
    /// the I/O already in flight too (SPDK's timeout poller looks at every channel).</summary>
    public static void WakeAllForTimeouts()
    {
        lock (s_all)
        {
            foreach (BdevThread t in s_all)
            {
                t._poller?.Wake();
            }
        }
    }

    public void Add(BdevChannel channel)
    {
        int slot;
        if (_freeCount > 0)
        {
            slot = _freeSlots[--_freeCount];
        }
        else
        {
            if (_slotsUsed == _channels.Length)
            {
                System.Array.Resize(ref _channels, _channels.Length * 2);
                System.Array.Resize(ref _freeSlots, _channels.Length);
                System.Array.Resize(ref _busy, _channels.Length);
            }
            slot = _slotsUsed++;
        }
        _channels[slot] = channel;
        channel.ThreadSlot = slot;
        _channelCount++;
    }

    public void Remove(BdevChannel channel)
    {
        int slot = channel.ThreadSlot;
        if (slot < 0)
        {
            return;
        }
        Invariant.Assert(_channels[slot] == channel, "a channel removed from a slot that is not its own");
        if (channel.InBusyList)
        {
            for (int i = 0; i < _busyCount; i++)
            {
                if (_busy[i] == slot)
                {
                    _busy[i] = _busy[--_busyCount];
                    break;
                }
            }
            channel.InBusyList = false;
        }
        _channels[slot] = null;
        _freeSlots[_freeCount++] = slot;
        channel.ThreadSlot = -1;
        _channelCount--;
    }

    /// <summary>A completion that happened inside its channel's submit: the next poll
    /// delivers it (<see cref="BdevChannel.Complete"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Defer(BdevIo* io)
    {
        _done.Push(io);
        if (_asleep)
        {
            WakeSelf();
        }
    }

    private void WakeSelf()
    {
        _asleep = false;
        _poller!.WakeOnOwnThread();
    }

    /// <summary>Nothing queued for a while, no slow work, no descriptor timeouts anywhere: sleep until
    /// <see cref="Defer"/>, <see cref="MarkBusy"/> or <see cref="WakeAllForTimeouts"/>. The
    /// count is read again after the poller sleeps, so a timeout set meanwhile is not missed.</summary>
    private void SleepIfIdle()
    {
        if (++_idlePolls < IdlePollsToSleep || !_done.IsEmpty || _busyCount != 0 ||
            System.Threading.Volatile.Read(ref Bdev.AnyTimeoutDescriptors) != 0)
        {
            return;
        }
        _idlePolls = 0;
        _asleep = true;
        _poller!.Sleep();
        System.Threading.Interlocked.MemoryBarrier();
        if (System.Threading.Volatile.Read(ref Bdev.AnyTimeoutDescriptors) != 0)
        {
            WakeSelf();
        }
    }

    /// <summary>Delivers the deferred completions queued before this call; what their
    /// callbacks queue meanwhile waits for the next poll, so one poll is bounded.</summary>
    public int DrainDone()
    {
        if (_done.IsEmpty)
        {
            return 0;
        }
        IoQueue all = _done.TakeAll();
        long now = Thread.StampTicks;
        int n = 0;
        BdevIo* io;
        while ((io = all.Pop()) != null)
        {
            BdevChannel.FromIo(io).Finish(io, now);
            n++;
        }
        return n;
    }

    /// <summary>The channel has slow layer work: the next poll does it.</summary>
    public void MarkBusy(BdevChannel channel)
    {
        Invariant.Assert(!channel.InBusyList, "a channel is on its thread's busy list twice");
        Invariant.Assert(channel.ThreadSlot >= 0, "a channel marked busy that is not on its thread");
        channel.InBusyList = true;
        _busy[_busyCount++] = channel.ThreadSlot;
        if (_asleep)
        {
            WakeSelf();
        }
    }

    private static int PollThunk(object? o) => Unsafe.As<BdevThread>(o!).Poll(); // registered with this object

    private int Poll()
    {
        _asleep = false; // running: a wake from another thread may have come first
        int work = DrainDone();
        // Channels marked busy meanwhile are polled in this pass too (pushed on top); each
        // channel's own work per poll is bounded by what it had queued when polled.
        for (int i = 0; i < _busyCount;)
        {
            BdevChannel c = _channels[_busy[i]]!;
            work += c.PollLayer(out bool more);
            if (more)
            {
                i++;
                continue;
            }
            c.InBusyList = false;
            _busy[i] = _busy[--_busyCount];
        }
        if (System.Threading.Volatile.Read(ref Bdev.AnyTimeoutDescriptors) > 0)
        {
            work += PollTimeouts();
        }
        if (work != 0)
        {
            _idlePolls = 0;
        }
        else
        {
            SleepIfIdle();
        }
        return work;
    }

    private int PollTimeouts()
    {
        long now = Thread.StampTicks;
        if (now < _nextTimeoutScan)
        {
            return 0;
        }
        _nextTimeoutScan = now + Ticks.Hz / 1000;
        int work = 0;
        for (int slot = 0; slot < _slotsUsed; slot++)
        {
            BdevChannel? c = _channels[slot];
            if (c != null && c.Bdev.TimedDescriptors != null)
            {
                work += c.PollTimeouts(now);
            }
        }
        return work;
    }

    public void Release()
    {
        Invariant.Assert(_channelCount == 0, "a thread's bdev state released while channels use it");
        lock (s_all)
        {
            s_all.Remove(this);
        }
        if (_poller != null)
        {
            Thread.UnregisterPoller(_poller);
            _poller = null;
        }
        Pool.Release();
    }
}
