using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Rpc;

/// <summary>SPDK's lvol RPCs, each through the server with the values SPDK would answer: stores
/// (create, list, rename, delete) and volumes (create thick and thin, snapshot, clone, list with
/// their relations, resize, read-only, rename, inflate, decouple, delete), and their errors. Every
/// call runs bound to the thread that made the store, its metadata thread.</summary>
[NotInParallel(Keys.Threads)]
public class LvolMethodsTests
{
    private static JsonElement CallOn(LightweightThread t, RpcTestClient c, string method, string paramsJson) =>
        Bdevs.Bound(t, () => c.Call(method, paramsJson));

    private static JsonElement Lvol(JsonElement lvols, string name) =>
        lvols.GetProperty("result").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);

    private static bool Flag(JsonElement lvol, string key) => lvol.GetProperty(key).GetBoolean();

    [Test]
    public async Task Every_lvol_method_answers_as_spdk_does()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-lvol");
        // The calls run bound to t (its metadata thread), so the pump polls t as its owner.
        var c = new RpcTestClient { Pump = () => t.Poll(0, 0) };
        string disk = Bdevs.Malloc("lvrpc", "size_mb=32&blk_size=4096");
        string lvs = Bdevs.Unique("lvs");
        JsonElement made = CallOn(t, c, "bdev_lvol_create_lvstore",
            $"{{\"bdev_name\":\"{disk}\",\"lvs_name\":\"{lvs}\",\"cluster_sz\":1048576}}");
        JsonElement stores = CallOn(t, c, "bdev_lvol_get_lvstores", $"{{\"lvs_name\":\"{lvs}\"}}");
        JsonElement vol = CallOn(t, c, "bdev_lvol_create",
            $"{{\"lvol_name\":\"vol0\",\"size_in_mib\":8,\"thin_provision\":false,\"lvs_name\":\"{lvs}\"}}");
        JsonElement thin = CallOn(t, c, "bdev_lvol_create",
            $"{{\"lvol_name\":\"thin0\",\"size_in_mib\":16,\"thin_provision\":true,\"lvs_name\":\"{lvs}\"}}");
        JsonElement snap = CallOn(t, c, "bdev_lvol_snapshot",
            $"{{\"lvol_name\":\"{lvs}/thin0\",\"snapshot_name\":\"snap0\"}}");
        JsonElement clone = CallOn(t, c, "bdev_lvol_clone",
            $"{{\"snapshot_name\":\"{lvs}/snap0\",\"clone_name\":\"clone0\"}}");
        JsonElement lvols = CallOn(t, c, "bdev_lvol_get_lvols", $"{{\"lvs_name\":\"{lvs}\"}}");
        JsonElement resize = CallOn(t, c, "bdev_lvol_resize", $"{{\"name\":\"{lvs}/vol0\",\"size_in_mib\":12}}");
        ulong resized = Bdevs.Find($"{lvs}/vol0").SizeBytes;
        JsonElement ro = CallOn(t, c, "bdev_lvol_set_read_only",
            $"{{\"name\":\"{vol.GetProperty("result").GetString()}\"}}");
        JsonElement rename = CallOn(t, c, "bdev_lvol_rename", $"{{\"old_name\":\"{lvs}/vol0\",\"new_name\":\"vol1\"}}");
        JsonElement inflate = CallOn(t, c, "bdev_lvol_inflate", $"{{\"name\":\"{lvs}/clone0\"}}");
        JsonElement decouple = CallOn(t, c, "bdev_lvol_decouple_parent", $"{{\"name\":\"{lvs}/thin0\"}}");
        JsonElement after = CallOn(t, c, "bdev_lvol_get_lvols", "{}");
        JsonElement delSnap = CallOn(t, c, "bdev_lvol_delete", $"{{\"name\":\"{lvs}/snap0\"}}");
        ThreadHost.PollUntil(() => BdevRegistry.Find($"{lvs}/snap0") == null, t);
        string lvs2 = lvs + "x";
        JsonElement renameStore = CallOn(t, c, "bdev_lvol_rename_lvstore",
            $"{{\"old_name\":\"{lvs}\",\"new_name\":\"{lvs2}\"}}");
        JsonElement renamed = CallOn(t, c, "bdev_lvol_get_lvstores", $"{{\"lvs_name\":\"{lvs2}\"}}");
        JsonElement unknown = CallOn(t, c, "bdev_lvol_get_lvstores", $"{{\"lvs_name\":\"{lvs}\"}}");
        JsonElement both = CallOn(t, c, "bdev_lvol_create",
            $"{{\"lvol_name\":\"x\",\"size_in_mib\":1,\"uuid\":\"u\",\"lvs_name\":\"{lvs2}\"}}");
        JsonElement noVol = CallOn(t, c, "bdev_lvol_delete", "{\"name\":\"nope/nope\"}");
        JsonElement delStore = CallOn(t, c, "bdev_lvol_delete_lvstore", $"{{\"lvs_name\":\"{lvs2}\"}}");
        ThreadHost.PollUntil(() => BdevRegistry.Find($"{lvs}/vol0") == null, t);
        bool volumesGone = BdevRegistry.Find($"{lvs}/thin0") == null && BdevRegistry.Find($"{lvs}/clone0") == null;
        JsonElement none = CallOn(t, c, "bdev_lvol_get_lvstores", "{}");
        Bdevs.DestroyAndWait(disk, t);

        JsonElement s0 = stores.GetProperty("result")[0];
        await Assert.That(made.GetProperty("result").GetString()).IsEqualTo(s0.GetProperty("uuid").GetString());
        await Assert.That(s0.GetProperty("base_bdev").GetString()).IsEqualTo(disk);
        await Assert.That(s0.GetProperty("total_data_clusters").GetInt64()).IsEqualTo(31);
        await Assert.That(s0.GetProperty("free_clusters").GetInt64()).IsEqualTo(31);
        await Assert.That(s0.GetProperty("block_size").GetInt64()).IsEqualTo(4096);
        await Assert.That(s0.GetProperty("cluster_size").GetInt64()).IsEqualTo(1048576);
        JsonElement v0 = Lvol(lvols, "vol0"), t0 = Lvol(lvols, "thin0");
        JsonElement sn = Lvol(lvols, "snap0"), c0 = Lvol(lvols, "clone0");
        await Assert.That(vol.GetProperty("result").GetString()).IsEqualTo(v0.GetProperty("uuid").GetString());
        await Assert.That(thin.GetProperty("result").GetString()).IsEqualTo(t0.GetProperty("uuid").GetString());
        await Assert.That(snap.GetProperty("result").GetString()).IsEqualTo(sn.GetProperty("uuid").GetString());
        await Assert.That(clone.GetProperty("result").GetString()).IsEqualTo(c0.GetProperty("uuid").GetString());
        await Assert.That(v0.GetProperty("alias").GetString()).IsEqualTo($"{lvs}/vol0");
        await Assert.That(v0.GetProperty("num_allocated_clusters").GetInt64()).IsEqualTo(8);
        await Assert.That(Flag(v0, "is_thin_provisioned") || Flag(v0, "is_clone") || Flag(v0, "is_snapshot")).IsFalse();
        await Assert.That(Flag(t0, "is_thin_provisioned") && Flag(t0, "is_clone") && !Flag(t0, "is_snapshot")).IsTrue();
        await Assert.That(Flag(sn, "is_snapshot") && !Flag(sn, "is_clone")).IsTrue();
        await Assert.That(Flag(c0, "is_clone")).IsTrue();
        await Assert.That(v0.GetProperty("lvs").GetProperty("name").GetString()).IsEqualTo(lvs);
        await Assert.That(resize.GetProperty("result").GetBoolean() && ro.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(resized).IsEqualTo(12UL << 20);
        await Assert.That(rename.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(inflate.GetProperty("result").GetBoolean() && decouple.GetProperty("result").GetBoolean())
            .IsTrue();
        await Assert.That(Lvol(after, "vol1").GetProperty("alias").GetString()).IsEqualTo($"{lvs}/vol1");
        await Assert.That(Flag(Lvol(after, "clone0"), "is_clone") || Flag(Lvol(after, "clone0"), "is_thin_provisioned"))
            .IsFalse();
        await Assert.That(Flag(Lvol(after, "thin0"), "is_clone")).IsFalse();
        await Assert.That(Flag(Lvol(after, "snap0"), "is_snapshot")).IsFalse();
        await Assert.That(delSnap.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(renameStore.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(renamed.GetProperty("result")[0].GetProperty("name").GetString()).IsEqualTo(lvs2);
        await Assert.That(unknown.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-19);
        await Assert.That(both.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-32602);
        await Assert.That(noVol.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-19);
        await Assert.That(delStore.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(volumesGone).IsTrue();
        await Assert.That(none.GetProperty("result").GetArrayLength()).IsEqualTo(0);
    }

    [Test]
    public async Task Grow_lvstore_takes_in_a_grown_base()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-lvol-grow");
        var c = new RpcTestClient { Pump = () => t.Poll(0, 0) };
        string disk = Bdevs.Malloc("lvgrow", "size_mb=32&blk_size=4096");
        BlockDevice b = Bdevs.Find(disk);
        Bdevs.Bound(t, () => b.Resize((16UL << 20) / 4096));
        string lvs = Bdevs.Unique("lvs");
        CallOn(t, c, "bdev_lvol_create_lvstore",
            $"{{\"bdev_name\":\"{disk}\",\"lvs_name\":\"{lvs}\",\"cluster_sz\":1048576}}");
        long before = CallOn(t, c, "bdev_lvol_get_lvstores", $"{{\"lvs_name\":\"{lvs}\"}}")
            .GetProperty("result")[0].GetProperty("total_data_clusters").GetInt64();
        Bdevs.Bound(t, () => b.Resize((32UL << 20) / 4096));
        JsonElement grow = CallOn(t, c, "bdev_lvol_grow_lvstore", $"{{\"lvs_name\":\"{lvs}\"}}");
        JsonElement after = CallOn(t, c, "bdev_lvol_get_lvstores", $"{{\"lvs_name\":\"{lvs}\"}}");
        JsonElement nobody = CallOn(t, c, "bdev_lvol_grow_lvstore", "{\"lvs_name\":\"nope\"}");
        CallOn(t, c, "bdev_lvol_delete_lvstore", $"{{\"lvs_name\":\"{lvs}\"}}");
        Bdevs.DestroyAndWait(disk, t);

        await Assert.That(grow.GetProperty("result").GetBoolean()).IsTrue();
        JsonElement s0 = after.GetProperty("result")[0];
        await Assert.That(s0.GetProperty("total_data_clusters").GetInt64()).IsEqualTo(before + 16);
        await Assert.That(s0.GetProperty("free_clusters").GetInt64()).IsEqualTo(before + 16);
        await Assert.That(nobody.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-19);
    }

    [Test]
    public async Task Clear_method_is_honoured_and_a_bad_one_refused()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-lvol-clear");
        var c = new RpcTestClient { Pump = () => t.Poll(0, 0) };
        string disk = Bdevs.Malloc("lvclr", "size_mb=32&blk_size=4096");
        string lvs = Bdevs.Unique("lvs");
        JsonElement bad = CallOn(t, c, "bdev_lvol_create_lvstore",
            $"{{\"bdev_name\":\"{disk}\",\"lvs_name\":\"{lvs}\",\"clear_method\":\"shred\"}}");
        JsonElement made = CallOn(t, c, "bdev_lvol_create_lvstore",
            $"{{\"bdev_name\":\"{disk}\",\"lvs_name\":\"{lvs}\",\"cluster_sz\":1048576," +
            "\"clear_method\":\"write_zeroes\"}");
        JsonElement badVol = CallOn(t, c, "bdev_lvol_create",
            $"{{\"lvol_name\":\"v\",\"size_in_mib\":1,\"lvs_name\":\"{lvs}\",\"clear_method\":\"nope\"}}");
        JsonElement vol = CallOn(t, c, "bdev_lvol_create",
            $"{{\"lvol_name\":\"v\",\"size_in_mib\":1,\"lvs_name\":\"{lvs}\",\"clear_method\":\"none\"}}");
        ulong flags = NativeBdev.Modules.Lvol.LvolStore.Find(lvs)!.FindVolume("v")!.Blob.MdRoFlags;
        CallOn(t, c, "bdev_lvol_delete_lvstore", $"{{\"lvs_name\":\"{lvs}\"}}");
        ThreadHost.PollUntil(() => NativeBdev.Modules.Lvol.LvolStore.Find(lvs) == null, t);
        Bdevs.DestroyAndWait(disk, t);

        await Assert.That(bad.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-22);
        await Assert.That(made.TryGetProperty("result", out _)).IsTrue();
        await Assert.That(badVol.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-22);
        await Assert.That(vol.TryGetProperty("result", out _)).IsTrue();
        await Assert.That(flags).IsEqualTo(1UL); // SPDK's BLOB_CLEAR_WITH_NONE in md_ro flags
    }
}
