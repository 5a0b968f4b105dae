using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>Each method of the first set, its success and its errors, through a connection.</summary>
[NotInParallel(Keys.Threads)]
public class CoreMethodsTests
{
    private static (int Code, string Message) ErrorOf(JsonElement reply)
    {
        JsonElement e = reply.GetProperty("error");
        return (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!);
    }

    [Test]
    public async Task Malloc_create_makes_the_device_asked_for_and_delete_removes_it()
    {
        TestEnv.Ensure();
        var c = new RpcTestClient();
        string name = Bdevs.Unique("rpcm");
        const string uuid = "0b6c5e2c-6f3f-4c3e-9c1e-5d2a4b8e9f10";
        JsonElement created = c.Call("bdev_malloc_create",
            $"{{\"name\":\"{name}\",\"num_blocks\":2048,\"block_size\":4096,\"uuid\":\"{uuid}\"," +
            "\"md_interleave\":false,\"dif_is_head_of_md\":false,\"physical_block_size\":4096}");
        BdevInfoSeen info = Describe(c, name);
        BdevInfoSeen byUuid = Describe(c, uuid);
        (int, string) twice = ErrorOf(c.Call("bdev_malloc_create",
            $"{{\"name\":\"{name}\",\"num_blocks\":8,\"block_size\":512}}"));
        (int, string) wrongModule = ErrorOf(c.Call("bdev_null_delete", $"{{\"name\":\"{name}\"}}"));
        JsonElement deleted = c.Call("bdev_malloc_delete", $"{{\"name\":\"{name}\"}}");
        (int, string) gone = ErrorOf(c.Call("bdev_malloc_delete", $"{{\"name\":\"{name}\"}}"));
        bool stillThere = BdevRegistry.Find(name) != null;
        await Assert.That(created.GetProperty("result").GetString()).IsEqualTo(name);
        await Assert.That(info).IsEqualTo(new BdevInfoSeen(name, 4096, 2048, uuid, "Malloc disk"));
        await Assert.That(byUuid.Name).IsEqualTo(name);
        await Assert.That(twice).IsEqualTo((-17, "File exists"));
        await Assert.That(wrongModule).IsEqualTo((-19, "No such device"));
        await Assert.That(deleted.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(gone).IsEqualTo((-19, "No such device"));
        await Assert.That(stillThere).IsFalse();
    }

    [Test]
    public async Task Malloc_create_without_a_name_takes_the_first_free_MallocN()
    {
        TestEnv.Ensure();
        var c = new RpcTestClient();
        JsonElement created = c.Call("bdev_malloc_create", "{\"num_blocks\":16,\"block_size\":512}");
        string name = created.GetProperty("result").GetString()!;
        JsonElement deleted = c.Call("bdev_malloc_delete", $"{{\"name\":\"{name}\"}}");
        await Assert.That(name).Matches("^Malloc[0-9]+$");
        await Assert.That(deleted.GetProperty("result").GetBoolean()).IsTrue();
    }

    [Test]
    public async Task Null_create_needs_a_name_and_refuses_metadata_by_name()
    {
        TestEnv.Ensure();
        var c = new RpcTestClient();
        (int, string) unnamed = ErrorOf(c.Call("bdev_null_create", "{\"num_blocks\":16,\"block_size\":512}"));
        (int, string) md = ErrorOf(c.Call("bdev_null_create",
            "{\"name\":\"x\",\"num_blocks\":16,\"block_size\":512,\"md_size\":8}"));
        (int, string) badBlock = ErrorOf(c.Call("bdev_null_create",
            "{\"name\":\"x\",\"num_blocks\":16,\"block_size\":1000}"));
        string name = Bdevs.Unique("rpcn");
        JsonElement created = c.Call("bdev_null_create",
            $"{{\"name\":\"{name}\",\"num_blocks\":64,\"block_size\":512}}");
        BdevInfoSeen info = Describe(c, name);
        JsonElement deleted = c.Call("bdev_null_delete", $"{{\"name\":\"{name}\"}}");
        await Assert.That(unnamed).IsEqualTo((-32602, "Invalid parameters: missing required parameter 'name'"));
        await Assert.That(md.Item1).IsEqualTo(-32602);
        await Assert.That(md.Item2).Contains("'md_size'");
        await Assert.That(badBlock).IsEqualTo((-22, "Invalid argument"));
        await Assert.That(created.GetProperty("result").GetString()).IsEqualTo(name);
        await Assert.That(info.BlockCount).IsEqualTo(64UL);
        await Assert.That(deleted.GetProperty("result").GetBoolean()).IsTrue();
    }

    [Test]
    public async Task Get_bdevs_of_a_missing_name_is_ENODEV_after_its_timeout()
    {
        TestEnv.Ensure();
        var c = new RpcTestClient();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        (int, string) now = ErrorOf(c.Call("bdev_get_bdevs", "{\"name\":\"nope-rpc\"}"));
        (int, string) later = ErrorOf(c.Call("bdev_get_bdevs", "{\"name\":\"nope-rpc\",\"timeout\":100}"));
        long ms = sw.ElapsedMilliseconds;
        await Assert.That(now).IsEqualTo((-19, "No such device"));
        await Assert.That(later).IsEqualTo((-19, "No such device"));
        await Assert.That(ms).IsGreaterThanOrEqualTo(100L);
    }

    [Test]
    public async Task Framework_methods_list_methods_version_subsystems_and_the_bdev_config()
    {
        TestEnv.Ensure();
        var c = new RpcTestClient();
        string name = Bdevs.Malloc("rpccfg");
        string[] methods = c.Call("rpc_get_methods", null).GetProperty("result").EnumerateArray()
            .Select(e => e.GetString()!).ToArray();
        JsonElement version = c.Call("spdk_get_version", null).GetProperty("result");
        JsonElement subsystems = c.Call("framework_get_subsystems", null).GetProperty("result");
        JsonElement config = c.Call("framework_get_config", "{\"name\":\"bdev\"}").GetProperty("result");
        JsonElement nvmf = c.Call("framework_get_config", "{\"name\":\"nvmf\"}").GetProperty("result");
        (int, string) unknown = ErrorOf(c.Call("framework_get_config", "{\"name\":\"iscsi\"}"));
        Bdevs.DestroyAndWait(name);
        bool hasOurs = config.EnumerateArray().Any(e => e.GetProperty("method").GetString() == "bdev_malloc_create" &&
            e.GetProperty("params").GetProperty("name").GetString() == name);
        await Assert.That(methods).Contains("bdev_get_bdevs");
        await Assert.That(methods).Contains("framework_get_config");
        await Assert.That(version.GetProperty("version").GetString()).StartsWith("NativeBdev v");
        await Assert.That(subsystems[0].GetProperty("subsystem").GetString()).IsEqualTo("bdev");
        await Assert.That(hasOurs).IsTrue();
        await Assert.That(nvmf.ValueKind).IsEqualTo(JsonValueKind.Array);
        await Assert.That(unknown).IsEqualTo((-32602, "Subsystem 'iscsi' not found"));
    }

    private readonly record struct BdevInfoSeen(string Name, uint BlockSize, ulong BlockCount, string Uuid,
        string Product);

    private static BdevInfoSeen Describe(RpcTestClient c, string name)
    {
        JsonElement list = c.Call("bdev_get_bdevs", $"{{\"name\":\"{name}\"}}").GetProperty("result");
        JsonElement b = list.EnumerateArray().Single();
        return new BdevInfoSeen(b.GetProperty("name").GetString()!, b.GetProperty("block_size").GetUInt32(),
            b.GetProperty("num_blocks").GetUInt64(), b.GetProperty("uuid").GetString()!,
            b.GetProperty("product_name").GetString()!);
    }
}
