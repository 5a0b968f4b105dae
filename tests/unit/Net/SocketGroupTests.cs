using System.Text;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Net;

/// <summary>Sockets on lightweight threads: a listener on one thread, connections made and
/// served on others, every call non-blocking, driven by the threads' polls alone.</summary>
[NotInParallel(Keys.Threads)]
public class SocketGroupTests
{
    /// <summary>Echoes what it reads; counts bytes.</summary>
    private sealed class Echo : ISocketHandler
    {
        public readonly List<NetSocket> Sockets = new();
        public long Bytes;
        public bool SawEnd;

        public void OnReadable(NetSocket s)
        {
            Span<byte> buf = stackalloc byte[4096];
            int n = s.Receive(buf);
            if (n > 0)
            {
                Bytes += n;
                int sent = s.Send(buf[..n]);
                if (sent != n)
                {
                    throw new InvalidOperationException($"echo send {sent} of {n}");
                }
            }
            else if (n == 0 || n != -Errno.EAGAIN)
            {
                SawEnd = true;
                s.Close();
            }
        }

        public void OnWritable(NetSocket s)
        {
        }
    }

    /// <summary>Connects, sends a message once connected, collects the reply.</summary>
    private sealed class Client(byte[] message) : ISocketHandler
    {
        public readonly MemoryStream Received = new();
        public int ConnectResult = 1;

        public void OnReadable(NetSocket s)
        {
            Span<byte> buf = stackalloc byte[4096];
            int n = s.Receive(buf);
            if (n > 0)
            {
                Received.Write(buf[..n]);
            }
        }

        public void OnWritable(NetSocket s)
        {
            ConnectResult = s.TakeConnectError();
            s.WantWrite(false);
            if (ConnectResult == 0)
            {
                s.Send(message);
            }
        }
    }

    private static System.Net.Sockets.Socket Tcp() =>
        new(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);

    private static NetEndpoint Parse(string text)
    {
        int rc = NetEndpoint.TryParse(text, out NetEndpoint? e);
        return rc == 0 ? e! : throw new InvalidOperationException(text);
    }

    private static async Task EchoOver(string address)
    {
        using var host = new ThreadHost();
        LightweightThread server = host.Create("net-server");
        LightweightThread client = host.Create("net-client");
        var echo = new Echo();
        NetListener listener = ThreadHost.OnThread(server, () =>
        {
            int rc = NetListener.Start(Parse(address), null, s =>
            {
                echo.Sockets.Add(s);
                return echo;
            }, out NetListener? l);
            return rc == 0 ? l! : throw new InvalidOperationException($"listen {address}: {rc}");
        });
        byte[] message = Encoding.ASCII.GetBytes("hello over " + address);
        var c = new Client(message);
        NetSocket socket = ThreadHost.OnThread(client, () =>
        {
            int rc = NetSocket.Connect(listener.Endpoint, _ => c, out NetSocket? s);
            return rc == 0 ? s! : throw new InvalidOperationException($"connect: {rc}");
        });
        bool done = ThreadHost.PollUntil(() => c.Received.Length == message.Length, server, client);
        await Assert.That(done).IsTrue();
        await Assert.That(c.ConnectResult).IsEqualTo(0);
        await Assert.That(c.Received.ToArray()).IsEquivalentTo(message);
        await Assert.That(listener.Accepted).IsEqualTo(1);

        // The client closes: the server sees the end of the stream and closes its side.
        ThreadHost.OnThread(client, () => { socket.Close(); return 0; });
        await Assert.That(ThreadHost.PollUntil(() => echo.SawEnd, server, client)).IsTrue();
        ThreadHost.OnThread(server, () => { listener.Stop(); return 0; });
        if (listener.Endpoint.UnixPath != null)
        {
            await Assert.That(File.Exists(listener.Endpoint.UnixPath)).IsFalse();
        }
    }

    [Test]
    public Task Tcp_v4_echo() => EchoOver("127.0.0.1:0");

    [Test]
    public Task Tcp_v6_echo() => Socket6Available() ? EchoOver("[::1]:0") : Task.CompletedTask;

    [Test]
    public Task Unix_echo() => EchoOver($"/tmp/nb-net-{Guid.NewGuid().ToString("N")[..12]}.sock");

    private static bool Socket6Available()
    {
        try
        {
            using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetworkV6,
                System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    [Test]
    public async Task Accepted_connections_spread_over_the_listed_threads()
    {
        using var host = new ThreadHost();
        LightweightThread acceptor = host.Create("net-acceptor");
        LightweightThread[] workers = [host.Create("net-w0"), host.Create("net-w1")];
        var adoptedOn = new List<string>();
        var echo = new Echo();
        NetListener listener = ThreadHost.OnThread(acceptor, () =>
        {
            NetListener.Start(Parse("127.0.0.1:0"), workers, s =>
            {
                adoptedOn.Add(LightweightThread.Current!.Name);
                echo.Sockets.Add(s);
                return echo;
            }, out NetListener? l);
            return l!;
        });
        var clients = new List<System.Net.Sockets.Socket>();
        for (int i = 0; i < 4; i++)
        {
            var s = Tcp();
            s.Connect(System.Net.IPAddress.Loopback, int.Parse(listener.Endpoint.Text.Split(':')[1]));
            clients.Add(s);
        }
        LightweightThread[] all = [acceptor, .. workers];
        await Assert.That(ThreadHost.PollUntil(() => adoptedOn.Count == 4, all)).IsTrue();
        await Assert.That(adoptedOn.Count(n => n == "net-w0")).IsEqualTo(2);
        await Assert.That(adoptedOn.Count(n => n == "net-w1")).IsEqualTo(2);
        foreach (System.Net.Sockets.Socket s in clients)
        {
            s.Dispose();
        }
        await Assert.That(ThreadHost.PollUntil(() => echo.Sockets.All(s => s.IsClosed), all)).IsTrue();
        ThreadHost.OnThread(acceptor, () => { listener.Stop(); return 0; });
    }

    [Test]
    public async Task A_refused_connection_reports_ECONNREFUSED()
    {
        using var host = new ThreadHost();
        LightweightThread client = host.Create("net-refused");
        // A port nothing listens on: bind one, note it, close it.
        int port;
        using (var probe = Tcp())
        {
            probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            port = ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
        }
        var c = new Client([1]);
        NetSocket s = ThreadHost.OnThread(client, () =>
        {
            NetSocket.Connect(Parse($"127.0.0.1:{port}"), _ => c, out NetSocket? socket);
            return socket!;
        });
        await Assert.That(ThreadHost.PollUntil(() => c.ConnectResult != 1, client)).IsTrue();
        await Assert.That(c.ConnectResult).IsEqualTo(-Errno.ECONNREFUSED);
        ThreadHost.OnThread(client, () => { s.Close(); return 0; });
    }

    [Test]
    public async Task A_thread_that_exits_with_sockets_open_closes_them()
    {
        var host = new ThreadHost();
        LightweightThread t = host.Create("net-exit");
        t.ExitTimeoutTicks = NativeBdev.Env.Ticks.Hz / 20; // the listener is never closed: forced exit soon
        NetListener listener = ThreadHost.OnThread(t, () =>
        {
            NetListener.Start(Parse("127.0.0.1:0"), null, _ => new Echo(), out NetListener? l);
            return l!;
        });
        int port = int.Parse(listener.Endpoint.Text.Split(':')[1]);
        host.Dispose(); // exits and destroys the thread with its listener open
        using var s = Tcp();
        System.Net.Sockets.SocketException? refused = null;
        try
        {
            s.Connect(System.Net.IPAddress.Loopback, port);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            refused = e;
        }
        await Assert.That(refused).IsNotNull();
    }
}
