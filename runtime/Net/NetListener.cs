using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Net;

/// <summary>A listening socket and where its connections go: accepted on the listener's
/// thread, then each adopted by the next thread of <see cref="Start"/>'s list in turn (a
/// message carries the descriptor), or kept on the listener's thread when the list is empty
/// (a server whose state lives on one thread, as the RPC server's does).</summary>
internal sealed unsafe class NetListener : ISocketHandler
{
    private const int AcceptsPerPoll = 32;

    private readonly Func<NetSocket, ISocketHandler> _connection;
    private readonly LightweightThread[] _threads;
    private NetSocket? _socket;
    private int _next;

    private NetListener(Func<NetSocket, ISocketHandler> connection, LightweightThread[] threads)
    {
        _connection = connection;
        _threads = threads;
    }

    public NetEndpoint Endpoint { get; private set; } = null!;

    public long Accepted { get; private set; }

    /// <summary>Listens on <paramref name="endpoint"/> from the current thread.
    /// <paramref name="connection"/> makes each connection's handler on the thread that
    /// adopts it.</summary>
    public static int Start(NetEndpoint endpoint, LightweightThread[]? threads,
        Func<NetSocket, ISocketHandler> connection, out NetListener? listener, int backlog = 128)
    {
        listener = null;
        var l = new NetListener(connection, threads ?? []);
        int rc = NetSocket.Listen(endpoint, backlog, _ => l, out l._socket);
        if (rc != 0)
        {
            return rc;
        }
        // Port 0 asks the kernel for a port: report the one it chose.
        l.Endpoint = endpoint.Family == SocketAbi.AF_UNIX ? endpoint : l._socket!.LocalEndpoint ?? endpoint;
        listener = l;
        return 0;
    }

    public void OnReadable(NetSocket socket)
    {
        for (int i = 0; i < AcceptsPerPoll; i++)
        {
            int fd = socket.Accept();
            if (fd == -Errno.EAGAIN || fd == -Errno.EINTR)
            {
                return;
            }
            if (fd < 0)
            {
                // Out of descriptors or memory: the connection stays in the backlog and is
                // tried again on the next poll.
                Log.Warn($"accept on {Endpoint} failed: {Libc.StrError(-fd)}");
                return;
            }
            Accepted++;
            Dispatch(fd);
        }
    }

    public void OnWritable(NetSocket socket)
    {
    }

    private void Dispatch(int fd)
    {
        LightweightThread? target = _threads.Length == 0 ? null : _threads[_next++ % _threads.Length];
        if (target == null || target.IsCurrent)
        {
            AdoptHere(fd);
            return;
        }
        if (target.Send(&AdoptThunk, this, fd) != 0)
        {
            Log.Warn($"connection to {Endpoint}: thread '{target.Name}' takes no messages; closed");
            Libc.close(fd);
        }
    }

    private static void AdoptThunk(object? listener, nint fd) => ((NetListener)listener!).AdoptHere((int)fd);

    private void AdoptHere(int fd)
    {
        if (NetSocket.Adopt(fd, Endpoint.Family, _connection, out _) != 0)
        {
            Log.Warn($"connection to {Endpoint} dropped: {LastError.Message}");
        }
    }

    /// <summary>Stops accepting (connections already made stay); a Unix socket's file is
    /// removed. On the listener's thread.</summary>
    public void Stop()
    {
        if (_socket == null)
        {
            return;
        }
        _socket.Close();
        _socket = null;
        if (Endpoint.UnixPath != null)
        {
            NetSocket.Unlink(Endpoint.UnixPath);
        }
    }
}
