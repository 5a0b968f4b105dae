using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Reactor;

/// <summary>spdk_io_device: anything that keeps per-thread state in io channels. Keyed by
/// an address (the C io_device pointer, or a managed object's key). Registration, channel
/// creation and destruction are control paths and take the registry lock; I/O never does.</summary>
internal abstract class IoDevice
{
    private static readonly object s_lock = new();
    private static readonly Dictionary<nint, IoDevice> s_devices = new();

    public readonly nint Key;
    public readonly string Name;
    public readonly int ContextSize;
    private readonly List<IoChannel> _channels = new();
    public bool Unregistering { get; private set; }
    private LightweightThread? _unregisterThread;
    private Action? _unregistered;

    protected IoDevice(nint key, string name, int contextSize)
    {
        Key = key;
        Name = name;
        ContextSize = contextSize;
    }

    /// <summary>Sets up a new channel's per-thread state on the calling thread.
    /// Returns 0 or a negative errno.</summary>
    public abstract int CreateChannel(IoChannel channel);

    public abstract void DestroyChannel(IoChannel channel);

    public static int Register(IoDevice device)
    {
        lock (s_lock)
        {
            if (s_devices.ContainsKey(device.Key))
            {
                return LastError.Set(Errno.EEXIST,
                    $"io device 0x{device.Key:x} ('{device.Name}') is already registered");
            }
            s_devices.Add(device.Key, device);
        }
        return 0;
    }

    public static IoDevice? Find(nint key)
    {
        lock (s_lock)
        {
            return s_devices.TryGetValue(key, out IoDevice? d) ? d : null;
        }
    }

    public static int Count
    {
        get
        {
            lock (s_lock)
            {
                return s_devices.Count;
            }
        }
    }

    /// <summary>spdk_io_device_unregister: no new channels; <paramref name="done"/> runs on
    /// the calling thread (if it is one) once every existing channel has been released.</summary>
    public int Unregister(Action? done)
    {
        // Without a current thread the callback runs wherever the last channel goes away.
        LightweightThread? thread = LightweightThread.Current;
        bool finishNow;
        lock (s_lock)
        {
            if (Unregistering)
            {
                return LastError.Set(Errno.EALREADY, $"io device '{Name}' is already being unregistered");
            }
            Unregistering = true;
            _unregisterThread = thread;
            _unregistered = done;
            if (s_devices.TryGetValue(Key, out IoDevice? registered) && registered == this)
            {
                s_devices.Remove(Key);
            }
            finishNow = _channels.Count == 0;
        }
        if (finishNow)
        {
            ScheduleUnregistered();
        }
        return 0;
    }

    internal void AddChannel(IoChannel ch)
    {
        lock (s_lock)
        {
            _channels.Add(ch);
        }
    }

    internal void RemoveChannel(IoChannel ch)
    {
        bool finish;
        lock (s_lock)
        {
            _channels.Remove(ch);
            finish = Unregistering && _channels.Count == 0;
        }
        if (finish)
        {
            ScheduleUnregistered();
        }
    }

    public IoChannel[] ChannelSnapshot()
    {
        lock (s_lock)
        {
            return _channels.ToArray();
        }
    }

    private unsafe void ScheduleUnregistered()
    {
        if (_unregistered == null)
        {
            return;
        }
        if (_unregisterThread == null || _unregisterThread.IsExited)
        {
            RunUnregistered(this, 0);
            return;
        }
        if (_unregisterThread.SendControl(&RunUnregistered, this) != 0)
        {
            Log.Error($"io device '{Name}': unregister callback could not be delivered to thread '" +
                      $"{_unregisterThread.Name}'");
        }
    }

    private static void RunUnregistered(object? o, nint _)
    {
        var d = (IoDevice)o!;
        Action? cb = d._unregistered;
        d._unregistered = null;
        cb?.Invoke();
    }

    /// <summary>spdk_for_each_channel: runs <paramref name="fn"/> on each channel's thread in
    /// turn (stopping at the first non-zero status), then <paramref name="done"/> with the
    /// status on the calling thread.</summary>
    public int ForEachChannel(Func<IoChannel, int> fn, Action<int> done)
    {
        LightweightThread? origin = LightweightThread.Current;
        if (origin == null)
        {
            return LastError.Set(Errno.EINVAL, "no current thread: iterate channels from a thread");
        }
        var it = new ChannelIteration(ChannelSnapshot(), fn, done, origin);
        it.Next();
        return 0;
    }

    private sealed unsafe class ChannelIteration
    {
        private readonly IoChannel[] _channels;
        private readonly Func<IoChannel, int> _fn;
        private readonly Action<int> _done;
        private readonly LightweightThread _origin;
        private int _index;
        private int _status;

        public ChannelIteration(IoChannel[] channels, Func<IoChannel, int> fn, Action<int> done,
            LightweightThread origin)
        {
            _channels = channels;
            _fn = fn;
            _done = done;
            _origin = origin;
        }

        public void Next()
        {
            while (_status == 0 && _index < _channels.Length)
            {
                IoChannel ch = _channels[_index];
                if (ch.Destroyed)
                {
                    _index++;
                    continue;
                }
                if (ch.Thread.SendControl(&Visit, this) == 0)
                {
                    return;
                }
                _index++; // its thread is gone: so is the channel
            }
            if (_origin.SendControl(&Finish, this) != 0)
            {
                Log.Error("for_each_channel: completion could not be delivered to the originating thread");
            }
        }

        private static void Visit(object? o, nint _)
        {
            var it = (ChannelIteration)o!;
            IoChannel ch = it._channels[it._index++];
            if (!ch.Destroyed)
            {
                it._status = it._fn(ch);
            }
            it.Next();
        }

        private static void Finish(object? o, nint _)
        {
            var it = (ChannelIteration)o!;
            it._done(it._status);
        }
    }
}

