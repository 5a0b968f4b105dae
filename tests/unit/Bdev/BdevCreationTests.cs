using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Rpc;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>BdevCreation (nb_bdev_create_async, and the RPC create methods): a creation that
/// waits on the network runs off the calling thread, which keeps polling; the result comes
/// back to that thread as a message, also for the schemes created on the spot.</summary>
[NotInParallel(Keys.Threads)]
public class BdevCreationTests
{
    /// <summary>A TCP listener that never accepts: the kernel completes the handshake from the
    /// backlog, so a host's connect succeeds and its ICReq is never answered.</summary>
    private static TcpListener Silent()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start(4);
        return l;
    }

    private static string SilentUri(TcpListener l, string name, int timeoutMs) =>
        $"nvmf://127.0.0.1:{((IPEndPoint)l.LocalEndpoint).Port}/nqn.2026-12.io.nativebdev:silent" +
        $"?timeout_ms={timeoutMs}&nsid=1&name={name}";

    [Test]
    public async Task A_creation_waiting_on_the_network_leaves_its_thread_polling_and_answers_on_it()
    {
        TestEnv.Ensure();
        using TcpListener silent = Silent();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("create-async");
        int status = 1;
        string? message = null;
        bool onCallingThread = false;
        int started = ThreadHost.OnThread(t, () => BdevCreation.Start(SilentUri(silent, "Silent0", 1500),
            (rc, _) =>
            {
                status = rc;
                message = LastError.Message;
                onCallingThread = LightweightThread.Current == t;
            }));
        int inFlightAtStart = BdevCreation.InFlight;
        long polls = 0;
        var sw = Stopwatch.StartNew();
        while (status == 1 && sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            ThreadHost.Poll(t);
            polls++;
        }
        await Assert.That(started).IsEqualTo(0);
        await Assert.That(inFlightAtStart).IsEqualTo(1);
        await Assert.That(status).IsEqualTo(-Errno.ETIMEDOUT);
        await Assert.That(message).Contains("ICResp");
        await Assert.That(onCallingThread).IsTrue();
        // The thread was polled all the while (a blocked thread is polled once).
        await Assert.That(polls).IsGreaterThan(1000);
        await Assert.That(BdevCreation.InFlight).IsEqualTo(0);
        await Assert.That(BdevRegistry.Find("Silent0")).IsNull();
    }

    [Test]
    public async Task A_creation_made_on_the_spot_still_answers_from_a_later_poll()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("create-spot");
        string? created = null;
        int status = 1;
        int started = ThreadHost.OnThread(t, () => BdevCreation.Start("malloc:///CreateSpot0?size_mb=1",
            (rc, name) =>
            {
                status = rc;
                created = name;
            }));
        int statusRightAfter = status;
        bool existsBeforeReply = BdevRegistry.Find("CreateSpot0") != null;
        ThreadHost.PollUntil(() => status != 1, t);
        int refusedStatus = 1;
        string? refusedMessage = null;
        ThreadHost.OnThread(t, () => BdevCreation.Start("malloc:///CreateSpot0?size_mb=1", (rc, _) =>
        {
            refusedStatus = rc;
            refusedMessage = LastError.Message;
        }));
        ThreadHost.PollUntil(() => refusedStatus != 1, t);
        int destroyed = BdevRegistry.Destroy("CreateSpot0", null);
        ThreadHost.PollUntil(() => BdevRegistry.Find("CreateSpot0") == null, t);
        await Assert.That(started).IsEqualTo(0);
        await Assert.That(statusRightAfter).IsEqualTo(1);
        await Assert.That(existsBeforeReply).IsTrue();
        await Assert.That(status).IsEqualTo(0);
        await Assert.That(created).IsEqualTo("CreateSpot0");
        await Assert.That(refusedStatus).IsEqualTo(-Errno.EEXIST);
        await Assert.That(refusedMessage).Contains("CreateSpot0");
        await Assert.That(destroyed).IsEqualTo(0);
    }

    [Test]
    public async Task Without_a_current_thread_it_is_refused_and_nothing_runs()
    {
        TestEnv.Ensure();
        bool ran = false;
        int rc = BdevCreation.Start("malloc:///NoThread0?size_mb=1", (_, _) => ran = true);
        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(LastError.Message).Contains("no current thread");
        await Assert.That(ran).IsFalse();
        await Assert.That(BdevRegistry.Find("NoThread0")).IsNull();
    }

    [Test]
    public async Task The_rpc_server_answers_other_requests_while_an_attach_waits_for_its_target()
    {
        TestEnv.Ensure();
        using TcpListener silent = Silent();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-create-async");
        var c = new RpcTestClient(t);
        int port = ((IPEndPoint)silent.LocalEndpoint).Port;
        string attach = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"bdev_nvme_attach_controller\",\"params\":" +
            "{\"name\":\"Silent1\",\"trtype\":\"tcp\",\"traddr\":\"127.0.0.1\",\"adrfam\":\"ipv4\"," +
            $"\"trsvcid\":\"{port}\",\"subnqn\":\"nqn.2026-12.io.nativebdev:silent\"," +
            "\"fabrics_connect_timeout_us\":1500000}}\n";
        string version = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"spdk_get_version\"}\n";
        List<string> first = c.Send(attach + version, expected: 1);
        List<string> later = c.Send("", expected: 1);
        var sw = Stopwatch.StartNew();
        while (later.Count == 0 && sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            later = c.Send("", expected: 1);
        }
        await Assert.That(first.Count).IsEqualTo(1);
        using JsonDocument v = JsonDocument.Parse(first[0]);
        await Assert.That(v.RootElement.GetProperty("id").GetInt32()).IsEqualTo(2);
        await Assert.That(later.Count).IsEqualTo(1);
        using JsonDocument a = JsonDocument.Parse(later[0]);
        await Assert.That(a.RootElement.GetProperty("id").GetInt32()).IsEqualTo(1);
        await Assert.That(a.RootElement.GetProperty("error").GetProperty("code").GetInt32())
            .IsEqualTo(-Errno.ETIMEDOUT);
    }
}
