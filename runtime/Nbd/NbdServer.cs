using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Reactor;

namespace NativeBdev.Nbd;

/// <summary>A network NBD server (what qemu-nbd and nbdkit are): exports, each a bdev
/// under a name, served to NBD clients over TCP or a Unix socket. The listener and every
/// connection live on the thread that started it; the export table may be changed from
/// any thread (under a lock: it is read only during handshakes).</summary>
internal sealed unsafe class NbdServer : INbdConnectionOwner
{
    public const string DefaultAddress = "127.0.0.1:10809";

    private readonly object _lock = new();
    private readonly List<NbdExport> _exports = new();
    private readonly List<NbdConnection> _connections = new();
    private readonly LightweightThread _thread;
    private NetListener? _listener;
    private int _connectionCount;

    private NbdServer(LightweightThread thread, NbdServerOptions options)
    {
        _thread = thread;
        Options = options;
    }

    public NbdServerOptions Options { get; }

    public NetEndpoint Endpoint => _listener!.Endpoint;

    public LightweightThread Thread => _thread;

    /// <summary>Connections not yet fully closed (their bdev I/O may still be finishing).</summary>
    public int ConnectionCount => System.Threading.Volatile.Read(ref _connectionCount);

    public bool Stopped => _listener == null;

    /// <summary>Listens on <paramref name="address"/> (null: 127.0.0.1:10809, NBD's port)
    /// from the current thread.</summary>
    public static int Start(string? address, NbdServerOptions? options, out NbdServer? server)
    {
        server = null;
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: start the NBD server from inside nb_thread_poll or after nb_set_thread");
        }
        int rc = NetEndpoint.TryParse(address ?? DefaultAddress, out NetEndpoint? endpoint);
        if (rc != 0)
        {
            return rc;
        }
        var s = new NbdServer(thread, options ?? new NbdServerOptions());
        rc = NetListener.Start(endpoint!, null, s.Connect, out s._listener);
        if (rc != 0)
        {
            return rc;
        }
        rc = s._flushes.Start(thread, "nbd_server");
        if (rc != 0)
        {
            s._listener!.Stop();
            return rc;
        }
        server = s;
        return 0;
    }

    private readonly NbdFlushQueue _flushes = new();

    /// <summary>A connection with replies completed in this poll: flushed by the server's poller.</summary>
    public void QueueFlush(NbdConnection c) => _flushes.Add(c);

    private ISocketHandler Connect(NetSocket socket)
    {
        var c = new NbdConnection(this, socket);
        _connections.Add(c);
        System.Threading.Interlocked.Increment(ref _connectionCount);
        // The socket joins its group after this returns: the greeting goes out from a message.
        if (_connections.Count > Options.MaxConnections)
        {
            Log.Warn($"nbd: {Options.MaxConnections} clients are connected; a new one is refused");
            _thread.Send(&RefuseThunk, c);
        }
        else if (_thread.Send(&BeginThunk, c) != 0)
        {
            // The greeting then goes out with the first event on the socket (the client's
            // bytes or its end): slow, never lost.
            Log.Warn($"nbd: thread '{_thread.Name}' takes no messages now; a new client is greeted late");
        }
        return c;
    }

    private static void BeginThunk(object? c, nint _) => ((NbdConnection)c!).Begin();

    private static void RefuseThunk(object? c, nint _)
    {
        var conn = (NbdConnection)c!;
        conn.CloseSocket();
        conn.MaybeFinish();
    }

    /// <summary>How long a client whose export's bdev is going (nbdev_tgt stopping) has to take
    /// the replies of its requests in flight before its connection is closed under it.</summary>
    private const long DrainDeadlineUs = 5_000_000;

    private Poller? _drainDeadline;

    /// <summary>The export's bdev is going: the client gets the replies of what it sent (the
    /// bdev finishes it), then the connection closes; one that does not read them in 5 s is cut.</summary>
    public void BdevGoing(NbdConnection c, string why)
    {
        c.Drain(why);
        if (c.IsDraining && _drainDeadline == null &&
            _thread.RegisterPoller("nbd_drain", DrainDeadlineUs, (nint)(delegate*<object?, int>)&DrainDeadlineThunk, 0,
                this, managed: true, out _drainDeadline) != 0)
        {
            c.AbortAndFinish($"{why} (no deadline could be set for its replies)");
        }
    }

    private static int DrainDeadlineThunk(object? o)
    {
        var s = (NbdServer)o!;
        foreach (NbdConnection c in s._connections.ToArray())
        {
            if (c.IsDraining)
            {
                c.AbortAndFinish($"its replies were not taken within {DrainDeadlineUs / 1_000_000} s");
            }
        }
        s.StopDrainDeadline();
        return 1;
    }

    private void StopDrainDeadline()
    {
        if (_drainDeadline != null)
        {
            _thread.UnregisterPoller(_drainDeadline);
            _drainDeadline = null;
        }
    }

    public void Closed(NbdConnection c)
    {
        _connections.Remove(c);
        System.Threading.Interlocked.Decrement(ref _connectionCount);
    }

    // ------------------------------------------------------------------ exports

    public int AddExport(string? name, string? bdevName, bool readOnly, string? description)
    {
        if (name == null || System.Text.Encoding.UTF8.GetByteCount(name) > NbdProtocol.MaxStringBytes)
        {
            return LastError.Set(Errno.EINVAL,
                $"export name must be given and at most {NbdProtocol.MaxStringBytes} bytes");
        }
        if (string.IsNullOrEmpty(bdevName))
        {
            return LastError.Set(Errno.EINVAL, $"export '{name}': no bdev name");
        }
        description ??= "";
        if (System.Text.Encoding.UTF8.GetByteCount(description) > NbdProtocol.MaxStringBytes)
        {
            return LastError.Set(Errno.EINVAL,
                $"export '{name}': the description is over {NbdProtocol.MaxStringBytes} bytes");
        }
        Bdev.Bdev? bdev = BdevRegistry.Find(bdevName);
        if (bdev == null)
        {
            return LastError.Set(Errno.ENODEV, $"export '{name}': no bdev named '{bdevName}'");
        }
        if (!readOnly && !bdev.IoTypeSupported(BdevIoType.Write))
        {
            return LastError.Set(Errno.EPERM,
                $"export '{name}': bdev '{bdevName}' takes no writes: export it read-only");
        }
        lock (_lock)
        {
            if (_listener == null)
            {
                return LastError.Set(Errno.ESHUTDOWN, "the NBD server is stopped");
            }
            foreach (NbdExport e in _exports)
            {
                if (e.Name == name)
                {
                    return LastError.Set(Errno.EEXIST, $"an export named '{name}' exists (bdev '{e.BdevName}')");
                }
            }
            _exports.Add(new NbdExport(name, bdevName, readOnly, description));
        }
        return 0;
    }

    /// <summary>Removes the export; clients using it are disconnected (from the server's
    /// thread: at once when called there, by a message otherwise).</summary>
    public int RemoveExport(string? name)
    {
        NbdExport? removed = null;
        lock (_lock)
        {
            for (int i = 0; i < _exports.Count; i++)
            {
                if (_exports[i].Name == name)
                {
                    removed = _exports[i];
                    _exports.RemoveAt(i);
                    break;
                }
            }
        }
        if (removed == null)
        {
            return LastError.Set(Errno.ENOENT, $"no NBD export named '{name}'");
        }
        if (_thread.IsCurrent)
        {
            Disconnect(removed);
        }
        else if (_thread.Send(&DisconnectThunk, this, System.Runtime.InteropServices.GCHandle.ToIntPtr(
                     System.Runtime.InteropServices.GCHandle.Alloc(removed))) != 0)
        {
            Log.Warn($"nbd: export '{name}' removed; its server thread takes no messages, clients stay connected");
        }
        return 0;
    }

    private static void DisconnectThunk(object? server, nint export)
    {
        var h = System.Runtime.InteropServices.GCHandle.FromIntPtr(export);
        var e = (NbdExport)h.Target!;
        h.Free();
        ((NbdServer)server!).Disconnect(e);
    }

    private void Disconnect(NbdExport export)
    {
        for (int i = _connections.Count - 1; i >= 0; i--)
        {
            if (i < _connections.Count && _connections[i].Export == export)
            {
                NbdConnection c = _connections[i];
                c.CloseSocket();
                c.MaybeFinish();
            }
        }
    }

    public List<NbdExport> Exports()
    {
        lock (_lock)
        {
            return new List<NbdExport>(_exports);
        }
    }

    /// <summary>The export a client names; the empty name is the default export: one named
    /// "" if there is one, else the first added.</summary>
    public NbdExportView? FindView(ReadOnlySpan<byte> name)
    {
        NbdExport? found = null;
        lock (_lock)
        {
            foreach (NbdExport e in _exports)
            {
                if (name.SequenceEqual(e.NameUtf8))
                {
                    found = e;
                    break;
                }
            }
            if (found == null && name.IsEmpty && _exports.Count > 0)
            {
                found = _exports[0];
            }
        }
        return found == null ? null : View(found);
    }

    public void ListViews(List<NbdExportView> views)
    {
        foreach (NbdExport e in Exports())
        {
            if (View(e) is { } v)
            {
                views.Add(v);
            }
        }
    }

    /// <summary>Null while the export's bdev does not exist (deleted after the export was added).</summary>
    private NbdExportView? View(NbdExport e)
    {
        Bdev.Bdev? bdev = BdevRegistry.Find(e.BdevName);
        return bdev == null || bdev.Removing
            ? null
            : new NbdExportView(e.NameUtf8, e.DescriptionUtf8, e.Geometry(bdev, Options.MaxPayloadBytes), e);
    }

    /// <summary>Stops listening and disconnects every client (hard); requests at the bdev
    /// finish on the thread's later polls, then each connection's resources are released
    /// (<see cref="ConnectionCount"/> reaches 0). On the server's thread.</summary>
    public void Stop()
    {
        Invariant.Assert(_thread.IsCurrent, "the NBD server stops on its own thread");
        lock (_lock)
        {
            _listener?.Stop();
            _listener = null;
            _exports.Clear();
        }
        for (int i = _connections.Count - 1; i >= 0; i--)
        {
            if (i < _connections.Count)
            {
                NbdConnection c = _connections[i];
                c.CloseSocket();
                c.MaybeFinish();
            }
        }
        _flushes.Stop(_thread);
        StopDrainDeadline();
    }
}
