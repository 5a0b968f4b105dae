using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Net;

/// <summary>One thread's sockets (SPDK's sock group): one epoll instance and one poller
/// that asks it, without waiting, which sockets of the thread are ready, and calls their
/// handlers. Shared by everything on the thread that holds sockets (RPC, NBD, NVMe/TCP):
/// made with the first socket, released after the last. Level-triggered: a handler that
/// stops early (bounded work per poll) is called again on the next poll.</summary>
internal sealed unsafe class SocketGroup : IPerThreadState
{
    private const int EventBatch = 64;
    private const uint ReadableEvents =
        SocketAbi.EPOLLIN | SocketAbi.EPOLLRDHUP | SocketAbi.EPOLLHUP | SocketAbi.EPOLLERR;

    public static readonly IoDevice Device =
        new PerThreadDevice<SocketGroup>("socket group", t => new SocketGroup(t));

    private readonly LightweightThread _thread;
    private readonly List<NetSocket?> _slots = new();
    private readonly Stack<int> _free = new();
    private readonly SocketAbi.EpollEvent* _events;
    private int _epoll = -1;
    private Poller? _poller;
    private uint _generation;

    private SocketGroup(LightweightThread thread)
    {
        _thread = thread;
        _events = (SocketAbi.EpollEvent*)System.Runtime.InteropServices.NativeMemory.Alloc(
            (nuint)(EventBatch * sizeof(SocketAbi.EpollEvent)));
    }

    public LightweightThread Thread => _thread;

    public int SocketCount { get; private set; }

    public int Start()
    {
        _epoll = SocketAbi.epoll_create1(SocketAbi.EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"epoll_create1 failed: {Libc.StrError(e)}");
        }
        return _thread.RegisterPoller("socket_group", 0, (nint)(delegate*<object?, int>)&PollThunk, 0, this,
            managed: true, out _poller);
    }

    /// <summary>Watches <paramref name="socket"/> for reading (and writing if it wants to).</summary>
    internal int Add(NetSocket socket)
    {
        Invariant.Assert(_thread.IsCurrent, "a socket joins its group on the group's thread");
        int slot;
        if (_free.Count > 0)
        {
            slot = _free.Pop();
            _slots[slot] = socket;
        }
        else
        {
            slot = _slots.Count;
            _slots.Add(socket);
        }
        socket.Slot = slot;
        socket.Generation = ++_generation;
        SocketAbi.EpollEvent ev = Event(socket);
        if (SocketAbi.epoll_ctl(_epoll, SocketAbi.EPOLL_CTL_ADD, socket.Fd, &ev) != 0)
        {
            int e = Libc.LastErrno;
            _slots[slot] = null;
            _free.Push(slot);
            socket.Slot = -1;
            return LastError.Set(e, $"epoll_ctl(ADD) of socket {socket.Fd} failed: {Libc.StrError(e)}");
        }
        SocketCount++;
        return 0;
    }

    internal void Update(NetSocket socket)
    {
        SocketAbi.EpollEvent ev = Event(socket);
        int rc = SocketAbi.epoll_ctl(_epoll, SocketAbi.EPOLL_CTL_MOD, socket.Fd, &ev);
        Invariant.Assert(rc == 0, "epoll_ctl(MOD) of a socket in the group failed");
    }

    internal void Remove(NetSocket socket)
    {
        Invariant.Assert(socket.Slot >= 0 && _slots[socket.Slot] == socket, "a socket left a group it was not in");
        SocketAbi.epoll_ctl(_epoll, SocketAbi.EPOLL_CTL_DEL, socket.Fd, null);
        _slots[socket.Slot] = null;
        _free.Push(socket.Slot);
        socket.Slot = -1;
        SocketCount--;
    }

    private static SocketAbi.EpollEvent Event(NetSocket s) => new()
    {
        Events = SocketAbi.EPOLLIN | SocketAbi.EPOLLRDHUP | (s.WantsWrite ? SocketAbi.EPOLLOUT : 0),
        // The generation tells a stale event (its socket closed and the slot reused within
        // one batch) from a live one.
        Data = (ulong)s.Generation << 32 | (uint)s.Slot,
    };

    private static int PollThunk(object? o) => ((SocketGroup)o!).Poll();

    public int Poll()
    {
        if (SocketCount == 0)
        {
            return 0;
        }
        int n = SocketAbi.epoll_wait(_epoll, _events, EventBatch, 0);
        if (n <= 0)
        {
            return 0;
        }
        for (int i = 0; i < n; i++)
        {
            SocketAbi.EpollEvent ev = _events[i];
            int slot = (int)(uint)ev.Data;
            NetSocket? s = slot < _slots.Count ? _slots[slot] : null;
            if (s == null || s.Generation != (uint)(ev.Data >> 32))
            {
                continue;
            }
            try
            {
                // Writable first: a connect that failed reports its error through SO_ERROR
                // there, which a read would consume.
                if (s.WantsWrite && (ev.Events & (SocketAbi.EPOLLOUT | SocketAbi.EPOLLERR | SocketAbi.EPOLLHUP)) != 0)
                {
                    s.Handler.OnWritable(s);
                }
                if (!s.IsClosed && (ev.Events & ReadableEvents) != 0)
                {
                    s.Handler.OnReadable(s);
                }
            }
            catch (Exception e)
            {
                // A handler's bug closes its connection, never the thread's other sockets.
                Log.Error($"socket {s.Fd} on thread '{_thread.Name}': handler threw, closing it: {e}");
                s.Close();
            }
        }
        return n;
    }

    /// <summary>After the last socket closed, or when a thread is forced to exit with
    /// sockets open: those are closed here (their owners' handlers are not called again).</summary>
    public void Release()
    {
        foreach (NetSocket? s in _slots)
        {
            if (s != null && !s.IsClosed)
            {
                Log.Warn($"thread '{_thread.Name}' exited with socket {s.Fd} open; closed");
                s.Abandon();
            }
        }
        _slots.Clear();
        SocketCount = 0;
        if (_poller != null)
        {
            _thread.UnregisterPoller(_poller);
            _poller = null;
        }
        if (_epoll >= 0)
        {
            Libc.close(_epoll);
            _epoll = -1;
        }
        System.Runtime.InteropServices.NativeMemory.Free(_events);
    }
}
