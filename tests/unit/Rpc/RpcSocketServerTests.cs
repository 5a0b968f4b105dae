using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Rpc;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>The RPC server on a real Unix socket, polled by its lightweight thread alone:
/// rpc.py's framing (pretty-printed objects, no delimiter, several per connection), errors
/// that close the connection, many clients at once, and the socket file's life.</summary>
[NotInParallel(Keys.Threads)]
public class RpcSocketServerTests
{
    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

    private static string SocketPath() => $"/tmp/nb-rpc-{Guid.NewGuid().ToString("N")[..12]}.sock";

    private sealed class Served : IDisposable
    {
        public readonly ThreadHost Host = new();
        public readonly LightweightThread Thread;
        public readonly RpcSocketServer Server;
        public readonly string Path;

        public Served(string? path = null, int maxRequestBytes = RpcDecoder.DefaultMaxRequestBytes)
        {
            TestEnv.Ensure();
            Path = path ?? SocketPath();
            Thread = Host.Create("rpc-server");
            Server = ThreadHost.OnThread(Thread, () =>
            {
                int rc = RpcSocketServer.Start(Path, RpcServer.WithCoreMethods(), out RpcSocketServer? s,
                    maxRequestBytes);
                return rc == 0 ? s! : throw new InvalidOperationException($"start: {rc} {LastError.Message}");
            });
        }

        public Socket Connect()
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(Path));
            s.Blocking = false;
            return s;
        }

        /// <summary>Polls the server until <paramref name="lines"/> reply lines have come on
        /// <paramref name="s"/>, or the peer closed (then whatever came).</summary>
        public List<string> Read(Socket s, int lines, Func<bool>? closed = null)
        {
            var got = new StringBuilder();
            var buf = new byte[65536];
            bool eof = false;
            ThreadHost.PollUntil(() =>
            {
                while (true)
                {
                    try
                    {
                        int n = s.Receive(buf);
                        if (n == 0)
                        {
                            eof = true;
                            break;
                        }
                        got.Append(Encoding.UTF8.GetString(buf, 0, n));
                    }
                    catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
                    {
                        break;
                    }
                    catch (SocketException)
                    {
                        eof = true;
                        break;
                    }
                }
                return eof || got.ToString().Count(c => c == '\n') >= lines;
            }, Thread);
            Eof = eof;
            return got.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        }

        public bool Eof;

        public void Dispose()
        {
            ThreadHost.OnThread(Thread, () => { Server.Stop(); return 0; });
            Host.Dispose();
        }
    }

    private static string Request(string method, int id, string? args = null, bool pretty = false)
    {
        string withArgs = args == null ? "" : ",\"params\":" + args;
        string text = $"{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\",\"id\":{id}{withArgs}}}";
        return pretty ? JsonSerializer.Serialize(JsonDocument.Parse(text).RootElement, s_indented) : text;
    }

    [Test]
    public async Task Pretty_printed_requests_back_to_back_in_odd_pieces_each_get_a_reply()
    {
        using var served = new Served();
        using Socket c = served.Connect();
        // rpc.py writes each request pretty-printed with no delimiter; a stream may cut anywhere.
        byte[] all = Encoding.UTF8.GetBytes(Request("spdk_get_version", 1, pretty: true) +
            Request("rpc_get_methods", 2, pretty: true) +
            Request("bdev_get_bdevs", 3, "{\"name\":\"nope\"}", pretty: true));
        for (int i = 0; i < all.Length; i += 7)
        {
            c.Send(all.AsSpan(i, Math.Min(7, all.Length - i)));
            ThreadHost.Poll(served.Thread);
        }
        List<string> replies = served.Read(c, 3);
        await Assert.That(replies.Count).IsEqualTo(3);
        using JsonDocument v = JsonDocument.Parse(replies[0]);
        using JsonDocument m = JsonDocument.Parse(replies[1]);
        using JsonDocument b = JsonDocument.Parse(replies[2]);
        await Assert.That(v.RootElement.GetProperty("id").GetInt32()).IsEqualTo(1);
        string? version = v.RootElement.GetProperty("result").GetProperty("version").GetString();
        await Assert.That(version).Contains("NativeBdev");
        await Assert.That(m.RootElement.GetProperty("result").EnumerateArray().Select(e => e.GetString()))
            .Contains("bdev_get_bdevs");
        await Assert.That(b.RootElement.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-19);
        await Assert.That(served.Eof).IsFalse();
    }

    [Test]
    public async Task Malformed_json_gets_a_parse_error_and_the_connection_closes_others_go_on()
    {
        using var served = new Served();
        using Socket bad = served.Connect();
        using Socket good = served.Connect();
        bad.Send("{\"jsonrpc\":\"2.0\",]"u8.ToArray());
        List<string> r = served.Read(bad, 1);
        await Assert.That(r.Count).IsEqualTo(1);
        await Assert.That(r[0]).Contains("-32700");
        served.Read(bad, 2); // until the server closes it
        await Assert.That(served.Eof).IsTrue();
        good.Send(Encoding.UTF8.GetBytes(Request("spdk_get_version", 9)));
        await Assert.That(served.Read(good, 1).Single()).Contains("\"id\":9");
    }

    [Test]
    public async Task A_request_over_the_size_limit_is_refused_and_closed()
    {
        using var served = new Served(maxRequestBytes: 4096);
        using Socket c = served.Connect();
        string huge = "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":\"" + new string('a', 8192);
        c.Send(Encoding.UTF8.GetBytes(huge));
        List<string> r = served.Read(c, 2);
        await Assert.That(r.Single()).Contains("-32700");
        await Assert.That(served.Eof).IsTrue();
    }

    [Test]
    public async Task A_hundred_clients_at_once_all_get_their_replies()
    {
        using var served = new Served();
        var clients = Enumerable.Range(0, 100).Select(_ => served.Connect()).ToList();
        for (int i = 0; i < clients.Count; i++)
        {
            clients[i].Send(Encoding.UTF8.GetBytes(Request("spdk_get_version", i)));
        }
        int ok = 0;
        for (int i = 0; i < clients.Count; i++)
        {
            List<string> r = served.Read(clients[i], 1);
            ok += r.Count == 1 && r[0].Contains($"\"id\":{i},") ? 1 : 0;
        }
        await Assert.That(ok).IsEqualTo(100);
        await Assert.That(served.Server.ConnectionCount).IsEqualTo(100);
        clients.ForEach(c => c.Dispose());
        await Assert.That(ThreadHost.PollUntil(() => served.Server.ConnectionCount == 0, served.Thread)).IsTrue();
    }

    [Test]
    public async Task Clients_past_the_limit_are_closed_without_a_reply()
    {
        using var served = new Served();
        var clients = Enumerable.Range(0, RpcSocketServer.MaxConnections).Select(_ => served.Connect()).ToList();
        await Assert.That(ThreadHost.PollUntil(() => served.Server.ConnectionCount == RpcSocketServer.MaxConnections,
            served.Thread)).IsTrue();
        using Socket extra = served.Connect();
        extra.Send(Encoding.UTF8.GetBytes(Request("spdk_get_version", 1)));
        List<string> r = served.Read(extra, 1);
        await Assert.That(served.Eof).IsTrue();
        await Assert.That(r).IsEmpty();
        clients.ForEach(c => c.Dispose());
    }

    [Test]
    public async Task A_client_that_vanishes_mid_request_leaves_the_server_serving()
    {
        using var served = new Served();
        Socket gone = served.Connect();
        gone.Send("{\"jsonrpc\":\"2.0\",\"method\":\"spdk_get_"u8.ToArray());
        ThreadHost.Poll(served.Thread);
        gone.Dispose();
        await Assert.That(ThreadHost.PollUntil(() => served.Server.ConnectionCount == 0, served.Thread)).IsTrue();
        using Socket c = served.Connect();
        c.Send(Encoding.UTF8.GetBytes(Request("spdk_get_version", 5)));
        await Assert.That(served.Read(c, 1).Single()).Contains("\"id\":5");
    }

    [Test]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_socket_file_is_0600_and_removed_on_stop()
    {
        string path;
        UnixFileMode mode;
        using (var served = new Served())
        {
            path = served.Path;
            mode = File.GetUnixFileMode(path);
        }
        await Assert.That(mode).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(File.Exists(path)).IsFalse();
    }

    [Test]
    public async Task A_stale_socket_file_is_replaced_a_live_one_is_refused()
    {
        string path = SocketPath();
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(path)); // bound, never listening: as a killed process leaves it
        }
        using var served = new Served(path);
        using Socket c = served.Connect();
        c.Send(Encoding.UTF8.GetBytes(Request("spdk_get_version", 1)));
        await Assert.That(served.Read(c, 1).Count).IsEqualTo(1);

        int rc = ThreadHost.OnThread(served.Thread, () =>
            RpcSocketServer.Start(path, RpcServer.WithCoreMethods(), out _));
        await Assert.That(rc).IsEqualTo(-Errno.EADDRINUSE);
        await Assert.That(LastError.Message).Contains("another process");

        string file = Path.Combine(Path.GetTempPath(), $"nb-rpc-file-{Guid.NewGuid():N}");
        File.WriteAllText(file, "not a socket");
        rc = ThreadHost.OnThread(served.Thread, () => RpcSocketServer.Start(file, RpcServer.WithCoreMethods(), out _));
        await Assert.That(rc).IsLessThan(0);
        await Assert.That(File.ReadAllText(file)).IsEqualTo("not a socket");
        File.Delete(file);
    }

    [Test]
    public async Task A_relative_socket_path_is_taken_as_spdk_tgt_takes_it()
    {
        string relative = $"nb-rpc-rel-{Guid.NewGuid().ToString("N")[..8]}.sock";
        string full = Path.GetFullPath(relative);
        int replies;
        bool existed;
        using (var served = new Served(relative))
        {
            existed = File.Exists(full);
            using Socket c = served.Connect();
            c.Send(Encoding.UTF8.GetBytes(Request("spdk_get_version", 1)));
            replies = served.Read(c, 1).Count;
        }
        File.Delete(full);
        await Assert.That(existed).IsTrue();
        await Assert.That(replies).IsEqualTo(1);
    }

    [Test]
    public async Task The_fixture_requests_replay_over_the_socket()
    {
        using var served = new Served();
        using Socket c = served.Connect();
        string dir = Path.Combine(Fixtures.Directory(), "rpc");
        string[] numbers = File.ReadAllLines(Path.Combine(dir, "INDEX")).Where(l => l.Length > 0)
            .Select(l => l.Split('\t')[0]).ToArray();
        int answered = 0;
        foreach (string n in numbers)
        {
            c.Send(File.ReadAllBytes(Path.Combine(dir, n + ".request.json")));
            List<string> r = served.Read(c, 1);
            using JsonDocument spdk = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, n + ".response.json")));
            if (r.Count == 1 && JsonDocument.Parse(r[0]).RootElement.GetProperty("id").GetRawText() ==
                spdk.RootElement.GetProperty("id").GetRawText())
            {
                answered++;
            }
        }
        // Leave no fixture bdevs behind for other tests.
        foreach (string b in new[] { "Malloc0", "Malloc1", "Malloc2", "Malloc3", "Malloc4" })
        {
            c.Send(Encoding.UTF8.GetBytes(Request("bdev_malloc_delete", 1, $"{{\"name\":\"{b}\"}}")));
            served.Read(c, 1);
        }
        c.Send(Encoding.UTF8.GetBytes(Request("bdev_null_delete", 1, "{\"name\":\"Null0\"}")));
        served.Read(c, 1);
        await Assert.That(answered).IsEqualTo(numbers.Length);
    }
}
