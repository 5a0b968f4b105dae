using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Reactor;

namespace NativeBdev.Rpc;

/// <summary>The JSON-RPC server on a socket (spdk_rpc_listen): a Unix socket by default,
/// SPDK's path when none is given, or TCP. Everything runs on the thread that started it —
/// the listener, every connection, the handlers and a poller that runs deferred work and
/// sends replies completed elsewhere — and nothing there blocks.</summary>
internal sealed unsafe class RpcSocketServer
{
    public const string DefaultAddress = "/var/tmp/spdk.sock";
    public const int MaxConnections = 128;
    private const long PollPeriodMicroseconds = 1000;

    private readonly List<RpcSocketConnection> _connections = new();
    private readonly LightweightThread _thread;
    private NetListener? _listener;
    private Poller? _poller;

    private RpcSocketServer(RpcServer methods, LightweightThread thread, int maxRequestBytes)
    {
        Methods = methods;
        _thread = thread;
        MaxRequestBytes = maxRequestBytes;
    }

    public RpcServer Methods { get; }

    public int MaxRequestBytes { get; }

    public NetEndpoint Endpoint => _listener!.Endpoint;

    public LightweightThread Thread => _thread;

    public int ConnectionCount => _connections.Count;

    /// <summary>One read buffer for all connections: they take turns on one thread.</summary>
    internal byte[] ReceiveBuffer { get; } = new byte[64 << 10];

    /// <summary>spdk_tgt -r takes any path for its socket, relative ones too (rpc.py -s finds
    /// them the same way): an address without a colon is such a path, made absolute here, unless
    /// it is an IP address (then its missing :PORT is the error, not a socket file of that name).</summary>
    private static string UnixPathAsSpdkTakesIt(string address) =>
        !string.IsNullOrWhiteSpace(address) && address[0] != '/' && !address.Contains(':') &&
        !System.Net.IPAddress.TryParse(address, out _) && address.IndexOf('\0') < 0
            ? System.IO.Path.GetFullPath(address)
            : address;

    /// <summary>Starts serving <paramref name="methods"/> on <paramref name="address"/> (null:
    /// SPDK's default socket) from the current thread.</summary>
    public static int Start(string? address, RpcServer methods, out RpcSocketServer? server,
        int maxRequestBytes = RpcDecoder.DefaultMaxRequestBytes)
    {
        server = null;
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: start the RPC server from inside nb_thread_poll or after nb_set_thread");
        }
        int rc = NetEndpoint.TryParse(UnixPathAsSpdkTakesIt(address ?? DefaultAddress), out NetEndpoint? endpoint);
        if (rc != 0)
        {
            return rc;
        }
        var s = new RpcSocketServer(methods, thread, maxRequestBytes);
        rc = NetListener.Start(endpoint!, null, s.Connect, out s._listener);
        if (rc != 0)
        {
            return rc;
        }
        rc = thread.RegisterPoller("rpc_server", PollPeriodMicroseconds, (nint)(delegate*<object?, int>)&PollThunk, 0,
            s, managed: true, out s._poller);
        if (rc != 0)
        {
            s._listener!.Stop();
            return rc;
        }
        server = s;
        return 0;
    }

    private ISocketHandler Connect(NetSocket socket)
    {
        var c = new RpcSocketConnection(this, socket);
        if (_connections.Count >= MaxConnections)
        {
            Log.Warn($"rpc: {MaxConnections} clients are connected; a new one is refused");
            c.RefuseLater();
        }
        _connections.Add(c);
        return c;
    }

    internal void Closed(RpcSocketConnection c) => _connections.Remove(c);

    private static int PollThunk(object? o) => ((RpcSocketServer)o!).Poll();

    private int Poll()
    {
        int waiting = Methods.Poll();
        for (int i = _connections.Count - 1; i >= 0; i--)
        {
            if (i < _connections.Count)
            {
                _connections[i].Flush();
            }
        }
        return waiting;
    }

    /// <summary>Stops listening and disconnects every client. On the server's thread.</summary>
    public void Stop()
    {
        Invariant.Assert(_thread.IsCurrent, "the RPC server stops on its own thread");
        _listener?.Stop();
        _listener = null;
        while (_connections.Count > 0)
        {
            _connections[^1].Close();
        }
        if (_poller != null)
        {
            _thread.UnregisterPoller(_poller);
            _poller = null;
        }
    }
}
