using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>bdev_raid_create/delete/get_bdevs and bdev_split_create/delete: success in SPDK's
/// shapes, and their errors. Handlers open base bdevs, so each call runs on a bound thread, as
/// the RPC server's own thread is inside its poll.</summary>
[NotInParallel(Keys.Threads)]
public class RaidMethodsTests
{
    private static JsonElement CallOn(LightweightThread t, RpcTestClient c, string method, string paramsJson) =>
        Bdevs.Bound(t, () => c.Call(method, paramsJson));

    private static (int Code, string Message) ErrorOf(JsonElement reply)
    {
        JsonElement e = reply.GetProperty("error");
        return (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!);
    }

    [Test]
    public async Task Raid_create_lists_and_deletes_in_SPDKs_shapes()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-raid");
        var c = new RpcTestClient { Pump = () => ThreadHost.Poll(t) };
        string a = Bdevs.Malloc("ra", "num_blocks=1024&blk_size=512");
        string b = Bdevs.Malloc("rb", "num_blocks=2048&blk_size=512");
        string r0 = Bdevs.Unique("r0"), cc = Bdevs.Unique("cc");
        const string uuid = "4a2cbe0e-9d59-4c1a-a8c4-0f7bd9a5e0b1";
        JsonElement made0 = CallOn(t, c, "bdev_raid_create",
            $"{{\"name\":\"{r0}\",\"strip_size_kb\":64,\"raid_level\":\"raid0\",\"base_bdevs\":[\"{a}\"]," +
            $"\"uuid\":\"{uuid}\"}}");
        JsonElement madeC = CallOn(t, c, "bdev_raid_create",
            $"{{\"name\":\"{cc}\",\"strip_size_kb\":4,\"raid_level\":\"CONCAT\",\"base_bdevs\":\"{b}\"}}");
        JsonElement all = CallOn(t, c, "bdev_raid_get_bdevs", "{\"category\":\"all\"}");
        JsonElement offline = CallOn(t, c, "bdev_raid_get_bdevs", "{\"category\":\"offline\"}");
        JsonElement mine = all.GetProperty("result").EnumerateArray()
            .Single(e => e.GetProperty("name").GetString() == r0);
        JsonElement base0 = mine.GetProperty("base_bdevs_list")[0];
        ulong concatBlocks = Bdevs.Find(cc).BlockCount;
        JsonElement deleted = c.Call("bdev_raid_delete", $"{{\"name\":\"{r0}\"}}");
        (int, string) again = ErrorOf(c.Call("bdev_raid_delete", $"{{\"name\":\"{r0}\"}}"));
        (int, string) notRaid = ErrorOf(CallOn(t, c, "bdev_raid_delete", $"{{\"name\":\"{a}\"}}"));
        c.Call("bdev_raid_delete", $"{{\"name\":\"{cc}\"}}");
        ThreadHost.PollUntil(() => BdevRegistry.Find(cc) == null, t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(made0.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(madeC.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(concatBlocks).IsEqualTo(2048UL);
        await Assert.That(mine.GetProperty("uuid").GetString()).IsEqualTo(uuid);
        await Assert.That(mine.GetProperty("strip_size_kb").GetUInt32()).IsEqualTo(64u);
        await Assert.That(mine.GetProperty("state").GetString()).IsEqualTo("online");
        await Assert.That(mine.GetProperty("raid_level").GetString()).IsEqualTo("raid0");
        await Assert.That(mine.GetProperty("superblock").GetBoolean()).IsFalse();
        await Assert.That(mine.GetProperty("num_base_bdevs").GetInt32()).IsEqualTo(1);
        await Assert.That(mine.GetProperty("num_base_bdevs_discovered").GetInt32()).IsEqualTo(1);
        await Assert.That(mine.GetProperty("num_base_bdevs_operational").GetInt32()).IsEqualTo(1);
        await Assert.That(base0.GetProperty("name").GetString()).IsEqualTo(a);
        await Assert.That(base0.GetProperty("is_configured").GetBoolean()).IsTrue();
        await Assert.That(base0.GetProperty("data_size").GetUInt64()).IsEqualTo(1024UL);
        await Assert.That(offline.GetProperty("result").GetArrayLength()).IsEqualTo(0);
        await Assert.That(deleted.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(again).IsEqualTo((-19, "No such device"));
        await Assert.That(notRaid).IsEqualTo((-19, "No such device"));
    }

    [Test]
    public async Task Raid_create_refuses_raid1_unknown_levels_superblocks_and_bad_bases()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-raid-bad");
        var c = new RpcTestClient();
        string a = Bdevs.Malloc("rx");
        string Params(string level, string extra = "", string bases = "") =>
            $"{{\"name\":\"x\",\"strip_size_kb\":64,\"raid_level\":\"{level}\"," +
            $"\"base_bdevs\":[\"{(bases == "" ? a : bases)}\"]{extra}}}";
        (int, string) raid1Strip = ErrorOf(CallOn(t, c, "bdev_raid_create", Params("raid1")));
        (int, string) raid5 = ErrorOf(CallOn(t, c, "bdev_raid_create", Params("5f")));
        (int, string) sb = ErrorOf(CallOn(t, c, "bdev_raid_create", Params("0", ",\"superblock\":true")));
        (int, string) missing = ErrorOf(CallOn(t, c, "bdev_raid_create", Params("0", bases: "nosuch")));
        (int, string) noStrip = ErrorOf(CallOn(t, c, "bdev_raid_create",
            $"{{\"name\":\"x\",\"raid_level\":\"0\",\"base_bdevs\":[\"{a}\"]}}"));
        (int, string) badList = ErrorOf(CallOn(t, c, "bdev_raid_create",
            "{\"name\":\"x\",\"raid_level\":\"0\",\"base_bdevs\":[1,2]}"));
        (int, string) badCategory = ErrorOf(CallOn(t, c, "bdev_raid_get_bdevs", "{\"category\":\"some\"}"));
        (int, string) noCategory = ErrorOf(CallOn(t, c, "bdev_raid_get_bdevs", "{}"));
        bool unclaimed = Bdevs.Find(a).ClaimedBy == null && BdevRegistry.Find("x") == null;
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(raid1Strip.Item1).IsEqualTo(-22);
        await Assert.That(raid1Strip.Item2).Contains("raid1 takes no strip_size_kb");
        await Assert.That(raid5.Item2).Contains("'5f' is not 0, raid0, concat, 1 or raid1");
        await Assert.That(sb.Item2).Contains("superblock");
        await Assert.That(missing).IsEqualTo((-19, "Failed to create RAID bdev x: No such device"));
        await Assert.That(noStrip).IsEqualTo((-22, "Failed to create RAID bdev x: Invalid argument"));
        await Assert.That(badList.Item1).IsEqualTo(-32602);
        await Assert.That(badList.Item2).Contains("'base_bdevs' must be an array of strings or a string");
        await Assert.That(badCategory).IsEqualTo((-22, "Invalid argument"));
        await Assert.That(noCategory.Item1).IsEqualTo(-32602);
        await Assert.That(unclaimed).IsTrue();
    }

    [Test]
    public async Task Raid1_is_a_nexus_listed_as_raid1_and_offline_when_no_child_is_healthy()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-raid1");
        var c = new RpcTestClient { Pump = () => ThreadHost.Poll(t) };
        string a = Bdevs.Malloc("m1a"), b = Bdevs.Malloc("m1b");
        string name = Bdevs.Unique("r1");
        JsonElement made = CallOn(t, c, "bdev_raid_create",
            $"{{\"name\":\"{name}\",\"raid_level\":\"1\",\"base_bdevs\":\"{a} {b}\"}}");
        bool isNexus = Bdevs.Find(name) is NativeBdev.Modules.Nexus.NexusBdev;
        var n = (NativeBdev.Modules.Nexus.NexusBdev)Bdevs.Find(name);
        Bdevs.Bound(t, () => n.Fault(b, NativeBdev.Modules.Nexus.NexusFaultReason.AdminFailed));
        ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        JsonElement online = CallOn(t, c, "bdev_raid_get_bdevs", "{\"category\":\"online\"}");
        JsonElement mine = online.GetProperty("result").EnumerateArray()
            .Single(e => e.GetProperty("name").GetString() == name);
        JsonElement offline = CallOn(t, c, "bdev_raid_get_bdevs", "{\"category\":\"offline\"}");
        JsonElement deleted = c.Call("bdev_raid_delete", $"{{\"name\":\"{name}\"}}");
        bool gone = ThreadHost.PollUntil(() => BdevRegistry.Find(name) == null, t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(made.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(isNexus).IsTrue();
        await Assert.That(mine.GetProperty("raid_level").GetString()).IsEqualTo("raid1");
        await Assert.That(mine.GetProperty("num_base_bdevs").GetInt32()).IsEqualTo(2);
        await Assert.That(mine.GetProperty("num_base_bdevs_operational").GetInt32()).IsEqualTo(1);
        await Assert.That(mine.GetProperty("base_bdevs_list")[1].GetProperty("is_configured").GetBoolean()).IsFalse();
        await Assert.That(offline.GetProperty("result").EnumerateArray()
                .Any(e => e.GetProperty("name").GetString() == name))
            .IsFalse();
        await Assert.That(deleted.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(gone).IsTrue();
    }

    [Test]
    public async Task Split_create_answers_the_parts_and_delete_removes_them()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-split");
        var c = new RpcTestClient();
        string b = Bdevs.Malloc("sp", "size_mb=8&blk_size=512");
        JsonElement made = CallOn(t, c, "bdev_split_create",
            $"{{\"base_bdev\":\"{b}\",\"split_count\":3,\"split_size_mb\":2}}");
        (int, string) twice = ErrorOf(CallOn(t, c, "bdev_split_create",
            $"{{\"base_bdev\":\"{b}\",\"split_count\":2}}"));
        (int, string) zero = ErrorOf(CallOn(t, c, "bdev_split_create", "{\"base_bdev\":\"x\",\"split_count\":0}"));
        (int, string) noBase = ErrorOf(CallOn(t, c, "bdev_split_create",
            "{\"base_bdev\":\"nosuch\",\"split_count\":2}"));
        (int, string) noCount = ErrorOf(CallOn(t, c, "bdev_split_create", $"{{\"base_bdev\":\"{b}\"}}"));
        JsonElement deleted = CallOn(t, c, "bdev_split_delete", $"{{\"base_bdev\":\"{b}\"}}");
        bool partsGone = ThreadHost.PollUntil(() => BdevRegistry.Find(b + "p0") == null &&
                                                    Bdevs.Find(b).ClaimedBy == null, t);
        (int, string) notSplit = ErrorOf(CallOn(t, c, "bdev_split_delete", $"{{\"base_bdev\":\"{b}\"}}"));
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(made.GetProperty("result").EnumerateArray().Select(e => e.GetString()!).ToArray())
            .IsEquivalentTo(new[] { b + "p0", b + "p1", b + "p2" });
        await Assert.That(twice).IsEqualTo((-17, "File exists"));
        await Assert.That(zero.Item1).IsEqualTo(-22);
        await Assert.That(noBase).IsEqualTo((-19, "No such device"));
        await Assert.That(noCount.Item1).IsEqualTo(-32602);
        await Assert.That(deleted.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(partsGone).IsTrue();
        await Assert.That(notSplit).IsEqualTo((-2, "No such file or directory"));
    }
}
