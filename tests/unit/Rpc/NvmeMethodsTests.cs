using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Tests.Nvme;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>bdev_nvme_attach_controller / get_controllers / detach_controller over NVMe/TCP,
/// against the protocol-level test target on loopback: SPDK's names (NAMEnNSID), SPDK's reply
/// shape (fixtures/rpc 039), and the errors.</summary>
[NotInParallel(Keys.Threads)]
public class NvmeMethodsTests
{
    private static (int Code, string Message) ErrorOf(JsonElement reply) =>
        reply.TryGetProperty("error", out JsonElement e)
            ? (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!)
            : (0, reply.GetRawText());

    [Test]
    public async Task A_tcp_controller_attaches_under_its_name_lists_as_spdk_lists_it_and_detaches()
    {
        TestEnv.Ensure();
        using var target = new NvmeTcpTestTarget(blocks: 8192);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-nvme");
        var c = new RpcTestClient(t);
        string attach = "{\"name\":\"Nvme7\",\"trtype\":\"tcp\",\"traddr\":\"127.0.0.1\",\"adrfam\":\"ipv4\"," +
            $"\"trsvcid\":\"{target.Port}\",\"subnqn\":\"{NvmeTcpTestTarget.Nqn}\",\"prchk_reftag\":false," +
            "\"prchk_guard\":false,\"hdgst\":false,\"ddgst\":false,\"allow_unrecognized_csi\":false}";
        JsonElement attached = c.Call("bdev_nvme_attach_controller", attach);
        (int, string) twice = ErrorOf(c.Call("bdev_nvme_attach_controller", attach));
        JsonElement controllers = c.Call("bdev_nvme_get_controllers", null).GetProperty("result");
        bool bdevThere = BdevRegistry.Find("Nvme7n1") != null;
        string dir = Path.Combine(Fixtures.Directory(), "rpc");
        using JsonDocument spdk = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "039.response.json")));
        var problems = new List<string>();
        JsonShape.Compare(controllers, spdk.RootElement.GetProperty("result"), "get_controllers", problems);
        JsonElement detached = c.Call("bdev_nvme_detach_controller", "{\"name\":\"Nvme7\"}");
        (int, string) gone = ErrorOf(c.Call("bdev_nvme_detach_controller", "{\"name\":\"Nvme7\"}"));
        (int, string) refused = ErrorOf(c.Call("bdev_nvme_attach_controller",
            "{\"name\":\"Nvme8\",\"trtype\":\"tcp\",\"traddr\":\"127.0.0.1\",\"trsvcid\":\"1\",\"subnqn\":\"" +
            NvmeTcpTestTarget.Nqn + "\"}"));
        (int, string) prchk = ErrorOf(c.Call("bdev_nvme_attach_controller",
            $"{{\"name\":\"Nvme9\",\"trtype\":\"tcp\",\"traddr\":\"127.0.0.1\",\"trsvcid\":\"{target.Port}\"," +
            $"\"subnqn\":\"{NvmeTcpTestTarget.Nqn}\",\"prchk_guard\":true}}"));
        (int, string) rdma = ErrorOf(c.Call("bdev_nvme_attach_controller",
            "{\"name\":\"Nvme9\",\"trtype\":\"rdma\",\"traddr\":\"127.0.0.1\"}"));
        await Assert.That(attached.GetProperty("result")[0].GetString()).IsEqualTo("Nvme7n1");
        await Assert.That(twice.Item1).IsEqualTo(-17);
        await Assert.That(bdevThere).IsTrue();
        await Assert.That(problems).IsEmpty();
        JsonElement ctrl = controllers[0];
        await Assert.That(ctrl.GetProperty("name").GetString()).IsEqualTo("Nvme7");
        JsonElement trid = ctrl.GetProperty("ctrlrs")[0].GetProperty("trid");
        await Assert.That(trid.GetProperty("trsvcid").GetString()).IsEqualTo(target.Port.ToString());
        await Assert.That(trid.GetProperty("subnqn").GetString()).IsEqualTo(NvmeTcpTestTarget.Nqn);
        await Assert.That(detached.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(BdevRegistry.Find("Nvme7n1")).IsNull();
        await Assert.That(gone).IsEqualTo((-19, "No such device"));
        await Assert.That(refused.Item1).IsEqualTo(-111);
        await Assert.That(prchk.Item1).IsEqualTo(-32602);
        await Assert.That(prchk.Item2).Contains("'prchk_guard'");
        await Assert.That(rdma.Item1).IsEqualTo(-32602);
    }
}
