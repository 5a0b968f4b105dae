using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Reactor;

namespace NativeBdev.Metrics;

/// <summary>Prometheus' scrape endpoint (nb_metrics_server_start, nbdev_tgt --metrics): HTTP
/// on TCP, loopback unless the host asks otherwise, from the thread that started it. One per
/// process; at most <see cref="MaxConnections"/> scrapers at a time.</summary>
internal sealed class MetricsServer
{
    public const int MaxConnections = 16;

    /// <summary>A scrape still open after this long is closed when the next scraper connects.</summary>
    private const long ScrapeTimeoutMicroseconds = 10_000_000;

    private static readonly object s_lock = new();
    private static MetricsServer? s_current;

    private readonly List<MetricsHttpConnection> _connections = new();
    private readonly LightweightThread _thread;
    private NetListener? _listener;

    private MetricsServer(LightweightThread thread) => _thread = thread;

    public NetEndpoint Endpoint => _listener!.Endpoint;

    public long Scrapes { get; set; }

    public static MetricsServer? Current
    {
        get
        {
            lock (s_lock)
            {
                return s_current;
            }
        }
    }

    public static int Start(string? address)
    {
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL, "no current thread: start the metrics server from a thread");
        }
        int rc = NetEndpoint.TryParse(address ?? "127.0.0.1:9464", out NetEndpoint? endpoint);
        if (rc != 0)
        {
            return rc;
        }
        if (endpoint!.UnixPath != null)
        {
            return LastError.Set(Errno.EINVAL, $"metrics are served on TCP (IP:PORT), not on '{address}'");
        }
        lock (s_lock)
        {
            if (s_current != null)
            {
                return LastError.Set(Errno.EALREADY, $"a metrics server already listens on {s_current.Endpoint}");
            }
            var s = new MetricsServer(thread);
            rc = NetListener.Start(endpoint, null, s.Connect, out s._listener);
            if (rc == 0)
            {
                s_current = s;
            }
            return rc;
        }
    }

    public static int Stop()
    {
        lock (s_lock)
        {
            if (s_current == null)
            {
                return LastError.Set(Errno.ENOENT, "no metrics server runs");
            }
            if (!s_current._thread.IsCurrent)
            {
                return LastError.Set(Errno.EINVAL,
                    $"the metrics server stops on the thread that started it ({s_current._thread.OwnerHint()})");
            }
            s_current._listener!.Stop();
            foreach (MetricsHttpConnection c in s_current._connections)
            {
                c.Abandon();
            }
            s_current._connections.Clear();
            s_current = null;
            return 0;
        }
    }

    private ISocketHandler Connect(NetSocket socket)
    {
        long expired = Ticks.Now - Ticks.FromMicroseconds(ScrapeTimeoutMicroseconds);
        for (int i = _connections.Count - 1; i >= 0; i--)
        {
            if (_connections[i].AcceptedTicks < expired)
            {
                _connections[i].Abandon();
                _connections.RemoveAt(i);
            }
        }
        var c = new MetricsHttpConnection(this, socket);
        if (_connections.Count >= MaxConnections)
        {
            c.Refuse(); // a scraper beyond the limit is closed unanswered
        }
        _connections.Add(c);
        return c;
    }

    internal void Closed(MetricsHttpConnection c) => _connections.Remove(c);
}
