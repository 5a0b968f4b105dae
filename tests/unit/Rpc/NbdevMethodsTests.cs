using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>Our own nbdev_ methods and the framework start-up methods: success and errors.</summary>
[NotInParallel(Keys.Threads)]
public class NbdevMethodsTests
{
    private static (int Code, string Message) ErrorOf(JsonElement reply) =>
        reply.TryGetProperty("error", out JsonElement e)
            ? (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!)
            : (0, reply.GetRawText());

    [Test]
    public async Task A_bdev_by_uri_with_a_fault_rule_listed_removed_and_its_health()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-nbdev");
        var c = new RpcTestClient(t);
        string name = Bdevs.Unique("nb");
        string created = c.Call("nbdev_bdev_create", $"{{\"uri\":\"malloc:///{name}?size_mb=1\"}}")
            .GetProperty("result").GetString()!;
        (int, string) badUri = ErrorOf(c.Call("nbdev_bdev_create", "{\"uri\":\"martian:///x\"}"));
        int id = c.Call("nbdev_fault_add", $"{{\"uri\":\"inject://{name}?op=read&count=3\"}}")
            .GetProperty("result").GetInt32();
        JsonElement list = c.Call("nbdev_fault_list", null).GetProperty("result");
        (int, string) badRule = ErrorOf(c.Call("nbdev_fault_add", "{\"uri\":\"inject://none?op=read\"}"));
        bool removed = c.Call("nbdev_fault_remove", $"{{\"id\":{id}}}").GetProperty("result").GetBoolean();
        (int, string) again = ErrorOf(c.Call("nbdev_fault_remove", $"{{\"id\":{id}}}"));
        JsonElement health = c.Call("nbdev_bdev_get_health", $"{{\"name\":\"{name}\"}}").GetProperty("result");
        (int, string) notFailed = ErrorOf(c.Call("nbdev_bdev_clear_failed", $"{{\"name\":\"{name}\"}}"));
        bool destroyed = c.Call("nbdev_bdev_destroy", $"{{\"name\":\"{name}\"}}").GetProperty("result").GetBoolean();
        (int, string) gone = ErrorOf(c.Call("nbdev_bdev_get_health", $"{{\"name\":\"{name}\"}}"));
        await Assert.That(created).IsEqualTo(name);
        await Assert.That(badUri.Item1).IsEqualTo(-95);
        await Assert.That(list.EnumerateArray().Any(r => r.GetProperty("id").GetInt32() == id &&
            r.GetProperty("bdev").GetString() == name)).IsTrue();
        await Assert.That(badRule.Item1).IsEqualTo(-19);
        await Assert.That(removed).IsTrue();
        await Assert.That(again).IsEqualTo((-2, "No such file or directory"));
        await Assert.That(health.GetProperty("failed").GetBoolean()).IsFalse();
        await Assert.That(health.GetProperty("read_errors").GetInt64()).IsEqualTo(0);
        await Assert.That(notFailed.Item1).IsEqualTo(-114);
        await Assert.That(destroyed).IsTrue();
        await Assert.That(gone).IsEqualTo((-19, "No such device"));
    }

    [Test]
    public async Task Start_init_runs_the_waiting_step_once_and_kill_refuses_unknown_signals()
    {
        TestEnv.Ensure();
        var c = new RpcTestClient();
        (int, string) notWaiting = ErrorOf(c.Call("framework_start_init", null));
        int ran = 0;
        NativeBdev.Rpc.RpcService.WaitForStartInit(() => ran++);
        List<string> waitReply = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"framework_wait_init\",\"id\":7}");
        bool started = c.Call("framework_start_init", null).GetProperty("result").GetBoolean();
        c.Server.Poll();
        string waited = string.Concat(c.Send("", 1));
        (int, string) second = ErrorOf(c.Call("framework_start_init", null));
        (int, string) badSignal = ErrorOf(c.Call("spdk_kill_instance", "{\"sig_name\":\"SIGWINCH\"}"));
        await Assert.That(notWaiting.Item1).IsEqualTo(-114);
        await Assert.That(waitReply).IsEmpty();
        await Assert.That(started).IsTrue();
        await Assert.That(ran).IsEqualTo(1);
        await Assert.That(waited).Contains("\"id\":7,\"result\":true");
        await Assert.That(second.Item1).IsEqualTo(-114);
        await Assert.That(badSignal.Item1).IsEqualTo(-32602);
        await Assert.That(badSignal.Item2).Contains("'sig_name'");
    }
}
