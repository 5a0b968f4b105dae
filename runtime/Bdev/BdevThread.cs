using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>The bdev layer's state on one thread, shared by every bdev channel there (SPDK's
/// bdev management channel and shared resource): the I/O pool, and the one poller that
/// does the layer's own work — deferred completions, resets, held and fault-delayed I/O,
/// descriptor timeouts — for the channels that have some. An idle channel costs this
/// poller nothing, so a thousand open bdevs on a thread poll like one. It is the
/// per-thread state of an io device: made with the first bdev channel of a thread,
/// released after the last.</summary>
internal sealed unsafe class BdevThread
{
    /// <summary>The io device whose channels are these: reached directly, never by key.</summary>
    public static readonly IoDevice Device = new ThreadDevice();

    public readonly LightweightThread Thread;
    public readonly BdevIoPool Pool;
    private readonly List<BdevChannel> _channels = new();
    private readonly List<BdevChannel> _busy = new(); // channels with layer work (each at most once)
    private Poller? _poller;
    private long _nextTimeoutScan;

    private BdevThread(LightweightThread thread)
    {
        Thread = thread;
        Pool = new BdevIoPool(thread);
    }

    private int Start() => Thread.RegisterPoller("bdev_layer", 0, (nint)(delegate*<object?, int>)&PollThunk, 0,
        this, managed: true, out _poller);

    public int ChannelCount => _channels.Count;

    public void Add(BdevChannel channel) => _channels.Add(channel);

    public void Remove(BdevChannel channel)
    {
        _channels.Remove(channel);
        if (channel.InBusyList)
        {
            _busy.Remove(channel);
            channel.InBusyList = false;
        }
    }

    /// <summary>The channel has layer work: the next poll does it.</summary>
    public void MarkBusy(BdevChannel channel)
    {
        Invariant.Assert(!channel.InBusyList, "a channel is on its thread's busy list twice");
        channel.InBusyList = true;
        _busy.Add(channel);
    }

    private static int PollThunk(object? o) => ((BdevThread)o!).Poll();

    private int Poll()
    {
        int work = 0;
        // Channels marked busy meanwhile are polled in this pass too (appended); each
        // channel's own work per poll is bounded by what it had queued when polled.
        for (int i = 0; i < _busy.Count;)
        {
            BdevChannel c = _busy[i];
            work += c.PollLayer();
            if (c.HasLayerWork)
            {
                i++;
                continue;
            }
            c.InBusyList = false;
            int last = _busy.Count - 1;
            _busy[i] = _busy[last];
            _busy.RemoveAt(last);
        }
        long now = Thread.StampTicks;
        if (now >= _nextTimeoutScan)
        {
            _nextTimeoutScan = now + Ticks.Hz / 1000;
            foreach (BdevChannel c in _channels)
            {
                if (c.Bdev.TimedDescriptors != null)
                {
                    work += c.PollTimeouts(now);
                }
            }
        }
        return work;
    }

    private void Release()
    {
        Invariant.Assert(_channels.Count == 0, "a thread's bdev state released while channels use it");
        if (_poller != null)
        {
            Thread.UnregisterPoller(_poller);
            _poller = null;
        }
        Pool.Release();
    }

    private sealed class ThreadDevice : IoDevice
    {
        public ThreadDevice()
            : base(0, "bdev layer", 0)
        {
        }

        public override int CreateChannel(IoChannel channel)
        {
            var t = new BdevThread(channel.Thread);
            int rc = t.Start();
            if (rc != 0)
            {
                t.Pool.Release();
                return rc;
            }
            channel.State = t;
            return 0;
        }

        public override void DestroyChannel(IoChannel channel)
        {
            (channel.State as BdevThread)?.Release();
            channel.State = null;
        }
    }
}
