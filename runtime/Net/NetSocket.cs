using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Net;

/// <summary>A non-blocking stream socket in its thread's <see cref="SocketGroup"/>. Every
/// call is made on that thread and none waits: reads and writes return what the kernel
/// took or gave at once, -EAGAIN when that is nothing. Sends never raise SIGPIPE.</summary>
internal sealed unsafe class NetSocket
{
    private const int StreamFlags = SocketAbi.SOCK_STREAM | SocketAbi.SOCK_NONBLOCK | SocketAbi.SOCK_CLOEXEC;

    private readonly IoChannel _groupChannel;
    private readonly SocketGroup _group;
    private ISocketHandler? _handler;
    private bool _wantsWrite;

    private NetSocket(int fd, int family, IoChannel groupChannel)
    {
        Fd = fd;
        Family = family;
        _groupChannel = groupChannel;
        _group = (SocketGroup)groupChannel.State!;
    }

    public int Fd { get; private set; }

    public int Family { get; }

    public bool IsClosed => Fd < 0;

    public bool WantsWrite => _wantsWrite;

    public LightweightThread Thread => _group.Thread;

    internal int Slot = -1;
    internal uint Generation;

    internal ISocketHandler Handler => _handler!;

    /// <summary>Opens a listening socket on the endpoint (SO_REUSEADDR; a Unix socket's stale
    /// file is replaced and the new one is made 0600, as SPDK makes its RPC socket).</summary>
    public static int Listen(NetEndpoint endpoint, int backlog, Func<NetSocket, ISocketHandler> handler,
        out NetSocket? socket)
    {
        socket = null;
        int fd = SocketAbi.socket(endpoint.Family, StreamFlags, 0);
        if (fd < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"socket for {endpoint} failed: {Libc.StrError(e)}");
        }
        int one = 1;
        int rc;
        if (endpoint.Family == SocketAbi.AF_UNIX)
        {
            rc = ClearStaleUnixSocket(endpoint);
            if (rc != 0)
            {
                Libc.close(fd);
                return rc;
            }
        }
        else
        {
            SocketAbi.setsockopt(fd, SocketAbi.SOL_SOCKET, SocketAbi.SO_REUSEADDR, &one, sizeof(int));
        }
        fixed (byte* sa = endpoint.Sockaddr)
        {
            rc = SocketAbi.bind(fd, sa, (uint)endpoint.Sockaddr.Length);
        }
        if (rc != 0)
        {
            int e = Libc.LastErrno;
            Libc.close(fd);
            return LastError.Set(e, $"cannot listen on {endpoint}: bind failed: {Libc.StrError(e)}");
        }
        if (endpoint.Family == SocketAbi.AF_UNIX)
        {
            Chmod(endpoint.UnixPath!, 0x180); // 0600: only the owner may manage the process
        }
        if (SocketAbi.listen(fd, backlog) != 0)
        {
            int e = Libc.LastErrno;
            Libc.close(fd);
            return LastError.Set(e, $"cannot listen on {endpoint}: listen failed: {Libc.StrError(e)}");
        }
        return Adopt(fd, endpoint.Family, handler, out socket);
    }

    /// <summary>Starts a connection; the handler's <see cref="ISocketHandler.OnWritable"/>
    /// runs when it is made or has failed (<see cref="TakeConnectError"/> says which).</summary>
    public static int Connect(NetEndpoint endpoint, Func<NetSocket, ISocketHandler> handler, out NetSocket? socket)
    {
        socket = null;
        int fd = SocketAbi.socket(endpoint.Family, StreamFlags, 0);
        if (fd < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"socket for {endpoint} failed: {Libc.StrError(e)}");
        }
        int rc;
        fixed (byte* sa = endpoint.Sockaddr)
        {
            rc = SocketAbi.connect(fd, sa, (uint)endpoint.Sockaddr.Length);
        }
        if (rc != 0 && Libc.LastErrno != Errno.EINPROGRESS)
        {
            int e = Libc.LastErrno;
            Libc.close(fd);
            return LastError.Set(e, $"connect to {endpoint} failed: {Libc.StrError(e)}");
        }
        SetNoDelay(fd, endpoint.Family);
        rc = Adopt(fd, endpoint.Family, handler, out socket);
        if (rc == 0)
        {
            socket!.WantWrite(true);
        }
        return rc;
    }

    /// <summary>Takes an open non-blocking socket into the current thread's group. On
    /// failure the descriptor is closed.</summary>
    public static int Adopt(int fd, int family, Func<NetSocket, ISocketHandler> handler, out NetSocket? socket)
    {
        socket = null;
        int rc = IoChannel.Get(SocketGroup.Device, out IoChannel? channel);
        if (rc != 0)
        {
            Libc.close(fd);
            return rc;
        }
        var s = new NetSocket(fd, family, channel!);
        s._handler = handler(s);
        rc = s._group.Add(s);
        if (rc != 0)
        {
            Libc.close(fd);
            s.Fd = -1;
            channel!.Put();
            return rc;
        }
        socket = s;
        return 0;
    }

    /// <summary>Accepts one pending connection: its descriptor (non-blocking, close-on-exec,
    /// TCP_NODELAY), -EAGAIN when none waits, or another -errno.</summary>
    public int Accept()
    {
        int fd = SocketAbi.accept4(Fd, null, null, SocketAbi.SOCK_NONBLOCK | SocketAbi.SOCK_CLOEXEC);
        if (fd < 0)
        {
            return -Libc.LastErrno;
        }
        SetNoDelay(fd, Family);
        return fd;
    }

    /// <summary>Bytes read (at most the buffer), 0 at end of stream, -EAGAIN, or -errno.</summary>
    public int Receive(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n = SocketAbi.recv(Fd, p, (nuint)buffer.Length, SocketAbi.MSG_DONTWAIT);
            return n >= 0 ? (int)n : -Libc.LastErrno;
        }
    }

    /// <summary>Bytes the kernel took (maybe fewer than given), -EAGAIN, or -errno.</summary>
    public int Send(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            nint n = SocketAbi.send(Fd, p, (nuint)data.Length, SocketAbi.MSG_DONTWAIT | SocketAbi.MSG_NOSIGNAL);
            return n >= 0 ? (int)n : -Libc.LastErrno;
        }
    }

    /// <summary>A gathered send of <paramref name="count"/> buffers in one system call.</summary>
    public nint SendV(Iovec* iov, int count)
    {
        var msg = new SocketAbi.Msghdr { Iov = iov, IovLength = (nuint)count };
        nint n = SocketAbi.sendmsg(Fd, &msg, SocketAbi.MSG_DONTWAIT | SocketAbi.MSG_NOSIGNAL);
        return n >= 0 ? n : -Libc.LastErrno;
    }

    /// <summary>Asks for (or stops asking for) <see cref="ISocketHandler.OnWritable"/>:
    /// while output waits for room in the kernel's buffer.</summary>
    public void WantWrite(bool want)
    {
        if (want != _wantsWrite && !IsClosed)
        {
            _wantsWrite = want;
            _group.Update(this);
        }
    }

    /// <summary>The outcome of a <see cref="Connect"/>: 0 when connected, or -errno.</summary>
    public int TakeConnectError()
    {
        int err = 0;
        uint len = sizeof(int);
        if (SocketAbi.getsockopt(Fd, SocketAbi.SOL_SOCKET, SocketAbi.SO_ERROR, &err, &len) != 0)
        {
            return -Libc.LastErrno;
        }
        return -err;
    }

    /// <summary>The local address (for a listener on port 0: the port the kernel chose).</summary>
    public NetEndpoint? LocalEndpoint => NetEndpoint.OfSocket(Fd, Family);

    /// <summary>Sends FIN after what is queued, keeps reading: a server that answers before it
    /// read the whole request closes only once the peer has, so the peer gets the answer rather
    /// than a reset.</summary>
    public void ShutdownWrite()
    {
        if (!IsClosed)
        {
            SocketAbi.shutdown(Fd, SocketAbi.SHUT_WR);
        }
    }

    /// <summary>Leaves the group and closes the descriptor. Idempotent.</summary>
    public void Close()
    {
        if (IsClosed)
        {
            return;
        }
        _group.Remove(this);
        Libc.close(Fd);
        Fd = -1;
        _groupChannel.Put();
    }

    /// <summary>Leaves the group without closing: the open descriptor, for another thread to
    /// <see cref="Adopt"/> (a connection moving to the thread that will serve it); this object
    /// reads as closed from here on. -EBADF when it is closed already.</summary>
    internal int Release()
    {
        if (IsClosed)
        {
            return -Errno.EBADF;
        }
        _group.Remove(this);
        int fd = Fd;
        Fd = -1;
        _wantsWrite = false;
        _groupChannel.Put();
        return fd;
    }

    /// <summary>The group is going away with this socket in it: close, no channel put.</summary>
    internal void Abandon()
    {
        Libc.close(Fd);
        Fd = -1;
        Slot = -1;
    }

    private static void SetNoDelay(int fd, int family)
    {
        if (family != SocketAbi.AF_UNIX)
        {
            int one = 1;
            SocketAbi.setsockopt(fd, SocketAbi.IPPROTO_TCP, SocketAbi.TCP_NODELAY, &one, sizeof(int));
        }
    }

    /// <summary>A socket file left by a process that is gone is removed; one a live process
    /// accepts on, or a path that is not a socket, is refused rather than taken over.</summary>
    private static int ClearStaleUnixSocket(NetEndpoint endpoint)
    {
        Libc.Stat st;
        byte[] z = ZeroTerminated(endpoint.UnixPath!);
        int statRc;
        fixed (byte* p = z)
        {
            statRc = Libc.lstat(p, &st);
        }
        if (statRc != 0)
        {
            int e = Libc.LastErrno;
            return e == Errno.ENOENT ? 0 : LastError.Set(e, $"cannot listen on {endpoint}: {Libc.StrError(e)}");
        }
        if ((st.Mode & Libc.S_IFMT) != Libc.S_IFSOCK)
        {
            return LastError.Set(Errno.EADDRINUSE, $"cannot listen on {endpoint}: the path exists and is not a socket");
        }
        int probe = SocketAbi.socket(SocketAbi.AF_UNIX, StreamFlags, 0);
        if (probe < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"socket for {endpoint} failed: {Libc.StrError(e)}");
        }
        int rc;
        fixed (byte* sa = endpoint.Sockaddr)
        {
            rc = SocketAbi.connect(probe, sa, (uint)endpoint.Sockaddr.Length);
        }
        int err = rc == 0 ? 0 : Libc.LastErrno;
        Libc.close(probe);
        switch (err)
        {
            case Errno.ENOENT:
                return 0;
            case Errno.ECONNREFUSED:
                Unlink(endpoint.UnixPath!);
                return 0;
            case 0:
            case Errno.EAGAIN:
                return LastError.Set(Errno.EADDRINUSE, $"cannot listen on {endpoint}: another process is serving it");
            default:
                return LastError.Set(err, $"cannot listen on {endpoint}: the path exists and is not a stale socket " +
                    $"({Libc.StrError(err)})");
        }
    }

    private static byte[] ZeroTerminated(string path) => System.Text.Encoding.UTF8.GetBytes(path + "\0");

    internal static void Unlink(string path)
    {
        byte[] z = ZeroTerminated(path);
        fixed (byte* p = z)
        {
            SocketAbi.unlink(p);
        }
    }

    private static void Chmod(string path, uint mode)
    {
        byte[] z = ZeroTerminated(path);
        fixed (byte* p = z)
        {
            SocketAbi.chmod(p, mode);
        }
    }
}
