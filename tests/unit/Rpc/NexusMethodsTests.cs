using System.Text;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Modules.Nexus;
using NativeBdev.Reactor;
using NativeBdev.Rpc;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>The nexus methods through the RPC server's request path (a connection's bytes in,
/// its reply lines out, the calls on a bound thread as on the server's own): create, list,
/// fault, online, add, remove, destroy; the rebuild controls, stats and history; their errors;
/// and save_config's entries for a nexus loading back into the same nexus.</summary>
[NotInParallel(Keys.Threads)]
public class NexusMethodsTests
{
    private const int Blocks = 8192;

    private static (int Code, string Message) ErrorOf(JsonElement reply)
    {
        JsonElement e = reply.GetProperty("error");
        return (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!);
    }

    private static JsonElement Result(JsonElement reply) =>
        reply.TryGetProperty("result", out JsonElement r) ? r
            : throw new InvalidOperationException("error reply: " + reply.GetRawText());

    private static JsonElement One(RpcTestClient c, string name) =>
        Result(c.Call("nexus_list", $"{{\"name\":\"{name}\"}}"))[0];

    private static JsonElement Child(JsonElement nexus, string name) =>
        nexus.GetProperty("children").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);

    private static string Malloc(string tag) => Bdevs.Malloc(tag, $"num_blocks={Blocks}&blk_size=512");

    [Test]
    public async Task Create_list_fault_online_remove_and_destroy_a_nexus()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-nexus");
        var c = new RpcTestClient(t);
        string a = Malloc("rna"), b = Malloc("rnb");
        string made = Bdevs.Unique("rn-made"), name = Bdevs.Unique("nexus");
        string madeUri = $"malloc:///{made}?num_blocks={Blocks}&blk_size=512";
        const string uuid = "6f1c0d4e-2b8a-4c3e-9d5f-7a1b2c3d4e5f";
        JsonElement created = c.Call("nexus_create",
            $"{{\"name\":\"{name}\",\"children\":[\"{a}\",\"{madeUri}\"],\"uuid\":\"{uuid}\"}}");
        JsonElement listed = One(c, name);
        JsonElement byUuid = One(c, uuid);
        JsonElement all = Result(c.Call("nexus_list", null));
        JsonElement faulted = c.Call("nexus_fault_child", $"{{\"name\":\"{name}\",\"uri\":\"{madeUri}\"}}");
        ThreadHost.PollUntil(() => ((NexusBdev)Bdevs.Find(name)).Reconfiguring == 0, t);
        JsonElement degraded = One(c, name);
        (int, string) badReason = ErrorOf(c.Call("nexus_fault_child",
            $"{{\"name\":\"{name}\",\"uri\":\"{a}\",\"reason\":\"tired\"}}"));
        (int, string) lastHealthy = ErrorOf(c.Call("nexus_fault_child", $"{{\"name\":\"{name}\",\"uri\":\"{a}\"}}"));
        JsonElement onlined = c.Call("nexus_online_child", $"{{\"name\":\"{name}\",\"uri\":\"{made}\"}}");
        var n = (NexusBdev)Bdevs.Find(name);
        bool synced = ThreadHost.PollUntil(() => n.FindChild(made)!.Healthy && n.Reconfiguring == 0, t);
        JsonElement added = c.Call("nexus_add_child", $"{{\"name\":\"{name}\",\"uri\":\"{b}\"}}");
        bool bSynced = ThreadHost.PollUntil(() => n.FindChild(b) is { Healthy: true } && n.Reconfiguring == 0, t);
        JsonElement three = One(c, name);
        JsonElement removed = c.Call("nexus_remove_child", $"{{\"name\":\"{name}\",\"uri\":\"{b}\"}}");
        bool bGone = ThreadHost.PollUntil(() => n.FindChild(b) == null && Bdevs.Find(b).ClaimedBy == null, t);
        (int, string) noNexus = ErrorOf(c.Call("nexus_add_child", $"{{\"name\":\"nosuch\",\"uri\":\"{b}\"}}"));
        (int, string) notNexus = ErrorOf(c.Call("nexus_online_child", $"{{\"name\":\"{a}\",\"uri\":\"{b}\"}}"));
        (int, string) noUri = ErrorOf(c.Call("nexus_add_child", $"{{\"name\":\"{name}\"}}"));
        (int, string) noChild = ErrorOf(c.Call("nexus_remove_child", $"{{\"name\":\"{name}\",\"uri\":\"zz\"}}"));
        (int, string) listMissing = ErrorOf(c.Call("nexus_list", "{\"name\":\"nosuch\"}"));
        (int, string) twice = ErrorOf(c.Call("nexus_create", $"{{\"name\":\"{name}\",\"children\":[\"{b}\"]}}"));
        (int, string) destroyOther = ErrorOf(c.Call("nexus_destroy", $"{{\"name\":\"{a}\"}}"));
        JsonElement destroyed = c.Call("nexus_destroy", $"{{\"name\":\"{name}\"}}");
        bool madeGone = ThreadHost.PollUntil(() => BdevRegistry.Find(made) == null && BdevRegistry.Find(name) == null,
            t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(Result(created).GetString()).IsEqualTo(name);
        await Assert.That(listed.GetProperty("uuid").GetString()).IsEqualTo(uuid);
        await Assert.That(byUuid.GetProperty("name").GetString()).IsEqualTo(name);
        await Assert.That(listed.GetProperty("size").GetUInt64()).IsEqualTo((ulong)Blocks * 512);
        await Assert.That(listed.GetProperty("state").GetString()).IsEqualTo("online");
        await Assert.That(listed.GetProperty("children").GetArrayLength()).IsEqualTo(2);
        await Assert.That(Child(listed, made).GetProperty("uri").GetString()).IsEqualTo(madeUri);
        await Assert.That(Child(listed, made).GetProperty("sync_state").GetString()).IsEqualTo("synced");
        await Assert.That(Child(listed, a).GetProperty("rebuild_progress").GetInt32()).IsEqualTo(-1);
        await Assert.That(all.EnumerateArray().Any(e => e.GetProperty("name").GetString() == name)).IsTrue();
        await Assert.That(Result(faulted).GetBoolean()).IsTrue();
        await Assert.That(degraded.GetProperty("state").GetString()).IsEqualTo("degraded");
        await Assert.That(Child(degraded, made).GetProperty("state").GetString()).IsEqualTo("faulted");
        await Assert.That(Child(degraded, made).GetProperty("reason").GetString()).IsEqualTo("admin_failed");
        await Assert.That(badReason.Item1).IsEqualTo(-22);
        await Assert.That(badReason.Item2).Contains("reason 'tired'");
        await Assert.That(lastHealthy.Item1).IsEqualTo(-16);
        await Assert.That(lastHealthy.Item2).Contains("last healthy child");
        await Assert.That(Result(onlined).GetBoolean()).IsTrue();
        await Assert.That(synced).IsTrue();
        await Assert.That(Result(added).GetBoolean()).IsTrue();
        await Assert.That(bSynced).IsTrue();
        await Assert.That(three.GetProperty("state").GetString()).IsEqualTo("online");
        await Assert.That(three.GetProperty("children").GetArrayLength()).IsEqualTo(3);
        await Assert.That(Result(removed).GetBoolean()).IsTrue();
        await Assert.That(bGone).IsTrue();
        await Assert.That(noNexus.Item1).IsEqualTo(-19);
        await Assert.That(noNexus.Item2).Contains("no nexus named 'nosuch'");
        await Assert.That(notNexus.Item2).Contains("not a nexus");
        await Assert.That(noUri.Item1).IsEqualTo(-32602);
        await Assert.That(noChild.Item1).IsEqualTo(-2);
        await Assert.That(listMissing.Item1).IsEqualTo(-19);
        await Assert.That(twice.Item1).IsEqualTo(-17);
        await Assert.That(destroyOther).IsEqualTo((-19, "No such device"));
        await Assert.That(Result(destroyed).GetBoolean()).IsTrue();
        await Assert.That(madeGone).IsTrue();
    }

    [Test]
    public async Task Rebuild_pause_resume_stop_start_stats_and_history_through_rpc()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-nexus-rebuild");
        var c = new RpcTestClient(t);
        string a = Malloc("rra");
        string name = Bdevs.Unique("nexus");
        Result(c.Call("nexus_create", $"{{\"name\":\"{name}\",\"children\":\"{a}\"}}"));
        var n = (NexusBdev)Bdevs.Find(name);
        string b = Bdevs.Unique("rr-b");
        string bUri = $"malloc:///{b}?num_blocks={Blocks}&blk_size=512";
        string P(string uri) => $"{{\"name\":\"{name}\",\"uri\":\"{uri}\"}}";
        // Added and paused at once: the copy never starts until it is resumed.
        JsonElement added = c.Call("nexus_add_child", P(bUri));
        JsonElement paused = c.Call("nexus_rebuild_pause", P(b));
        for (int i = 0; i < 200; i++)
        {
            ThreadHost.Poll(t);
        }
        JsonElement statsPaused = Result(c.Call("nexus_rebuild_stats", P(b)));
        JsonElement statePaused = Result(c.Call("nexus_rebuild_state", P(bUri)));
        JsonElement listPaused = One(c, name);
        JsonElement resumed = c.Call("nexus_rebuild_resume", P(b));
        bool synced = ThreadHost.PollUntil(() => n.FindChild(b)!.Healthy && n.Reconfiguring == 0, t);
        (int, string) statsNone = ErrorOf(c.Call("nexus_rebuild_stats", P(b)));
        // Added without a rebuild, started, stopped: left out of sync.
        string d = Bdevs.Unique("rr-d");
        string dUri = $"malloc:///{d}?num_blocks={Blocks}&blk_size=512";
        JsonElement quiet = c.Call("nexus_add_child",
            $"{{\"name\":\"{name}\",\"uri\":\"{dUri}\",\"norebuild\":true}}");
        ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        JsonElement listQuiet = One(c, name);
        JsonElement rate = c.Call("nexus_set_rebuild_rate", $"{{\"name\":\"{name}\",\"max_bytes_per_sec\":1048576}}");
        JsonElement started = c.Call("nexus_rebuild_start", P(d));
        (int, string) startTwice = ErrorOf(c.Call("nexus_rebuild_start", P(d)));
        bool running = ThreadHost.PollUntil(() => n.RebuildOf(n.FindChild(d)!)?.SegmentsCopied > 0, t);
        JsonElement statsRunning = Result(c.Call("nexus_rebuild_stats", P(d)));
        JsonElement stopped = c.Call("nexus_rebuild_stop", P(d));
        bool ended = ThreadHost.PollUntil(() => n.RebuildOf(n.FindChild(d)!) == null && n.Reconfiguring == 0, t);
        JsonElement listStopped = One(c, name);
        JsonElement history = Result(c.Call("nexus_rebuild_history", $"{{\"name\":\"{name}\"}}"));
        (int, string) pauseNone = ErrorOf(c.Call("nexus_rebuild_pause", P(d)));
        (int, string) startSynced = ErrorOf(c.Call("nexus_rebuild_start", P(a)));
        (int, string) historyNone = ErrorOf(c.Call("nexus_rebuild_history", "{\"name\":\"nosuch\"}"));
        c.Call("nexus_destroy", $"{{\"name\":\"{name}\"}}");
        ThreadHost.PollUntil(() => BdevRegistry.Find(name) == null && BdevRegistry.Find(b) == null, t);
        Bdevs.DestroyAndWait(a, t);
        JsonElement[] records = history.GetProperty("records").EnumerateArray().ToArray();

        await Assert.That(Result(added).GetBoolean() && Result(paused).GetBoolean()).IsTrue();
        await Assert.That(statsPaused.GetProperty("state").GetString()).IsEqualTo("paused");
        await Assert.That(statsPaused.GetProperty("blocks_recovered").GetUInt64()).IsEqualTo(0UL);
        await Assert.That(statsPaused.GetProperty("blocks_total").GetUInt64()).IsEqualTo((ulong)Blocks);
        await Assert.That(statsPaused.GetProperty("progress").GetInt32()).IsEqualTo(0);
        await Assert.That(statsPaused.GetProperty("is_partial").GetBoolean()).IsFalse();
        await Assert.That(statsPaused.GetProperty("segment_size_blks").GetUInt64()).IsEqualTo(128UL);
        await Assert.That(statsPaused.GetProperty("src_uri").GetString()).IsEqualTo(a);
        await Assert.That(statePaused.GetProperty("state").GetString()).IsEqualTo("paused");
        await Assert.That(Child(listPaused, b).GetProperty("sync_state").GetString()).IsEqualTo("out-of-sync");
        await Assert.That(listPaused.GetProperty("state").GetString()).IsEqualTo("degraded");
        await Assert.That(listPaused.GetProperty("rebuilds").GetInt32()).IsEqualTo(1);
        await Assert.That(Result(resumed).GetBoolean()).IsTrue();
        await Assert.That(synced).IsTrue();
        await Assert.That(statsNone.Item1).IsEqualTo(-2);
        await Assert.That(statsNone.Item2).Contains("has no rebuild");
        await Assert.That(Result(quiet).GetBoolean()).IsTrue();
        await Assert.That(Child(listQuiet, d).GetProperty("sync_state").GetString()).IsEqualTo("out-of-sync");
        await Assert.That(Child(listQuiet, d).GetProperty("rebuild_progress").GetInt32()).IsEqualTo(-1);
        await Assert.That(Result(rate).GetBoolean() && Result(started).GetBoolean()).IsTrue();
        await Assert.That(startTwice.Item1).IsEqualTo(-17);
        await Assert.That(running).IsTrue();
        await Assert.That(statsRunning.GetProperty("state").GetString()).IsEqualTo("running");
        await Assert.That(statsRunning.GetProperty("blocks_recovered").GetUInt64()).IsGreaterThan(0UL);
        await Assert.That(Result(stopped).GetBoolean()).IsTrue();
        await Assert.That(ended).IsTrue();
        await Assert.That(Child(listStopped, d).GetProperty("state").GetString()).IsEqualTo("open");
        await Assert.That(Child(listStopped, d).GetProperty("sync_state").GetString()).IsEqualTo("out-of-sync");
        await Assert.That(listStopped.GetProperty("max_bytes_per_sec").GetInt64()).IsEqualTo(1048576L);
        await Assert.That(records.Length).IsEqualTo(2);
        await Assert.That(records[0].GetProperty("child_uri").GetString()).IsEqualTo(bUri);
        await Assert.That(records[0].GetProperty("state").GetString()).IsEqualTo("completed");
        await Assert.That(records[0].GetProperty("blocks_recovered").GetUInt64()).IsEqualTo((ulong)Blocks);
        await Assert.That(records[1].GetProperty("child").GetString()).IsEqualTo(d);
        await Assert.That(records[1].GetProperty("state").GetString()).IsEqualTo("stopped");
        await Assert.That(records[1].GetProperty("blocks_remaining").GetUInt64()).IsGreaterThan(0UL);
        await Assert.That(DateTime.Parse(records[1].GetProperty("end_time").GetString()!).ToUniversalTime())
            .IsGreaterThanOrEqualTo(DateTime.Parse(records[1].GetProperty("start_time").GetString()!)
                .ToUniversalTime());
        await Assert.That(pauseNone.Item1).IsEqualTo(-2);
        await Assert.That(startSynced.Item1).IsEqualTo(-22);
        await Assert.That(historyNone.Item1).IsEqualTo(-19);
    }

    [Test]
    public async Task A_child_whose_bdev_is_gone_for_good_is_left_out_of_the_saved_config()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-nexus-config-gone");
        var c = new RpcTestClient(t);
        string a = Malloc("rga"), b = Malloc("rgb");
        string name = Bdevs.Unique("nexus");
        try
        {
            Result(c.Call("nexus_create", $"{{\"name\":\"{name}\",\"children\":[\"{a}\",\"{b}\"]}}"));
            Bdevs.DestroyAndWait(b, t); // hot-removed: faulted offline, and nothing can make it again
            var n = (NexusBdev)Bdevs.Find(name);
            ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
            string state = n.FindChild(b)!.ToString();
            string saved = Encoding.UTF8.GetString(ConfigSubsystems.Save());
            c.Call("nexus_destroy", $"{{\"name\":\"{name}\"}}");
            Bdevs.DestroyAndWait(a, t);
            int loaded = Load(t, saved, out string? message);
            var back = BdevRegistry.Find(name) as NexusBdev;

            await Assert.That(state).IsEqualTo($"{b} faulted(offline) synced");
            await Assert.That(saved).DoesNotContain($"\"{b}\"");
            await Assert.That(loaded).IsEqualTo(0).Because(message ?? "");
            await Assert.That(back?.Children().Select(x => x.Name).ToArray() ?? [])
                .IsEquivalentTo(new[] { a });
        }
        finally
        {
            foreach (string x in new[] { name, a, b })
            {
                if (BdevRegistry.Find(x) != null)
                {
                    Bdevs.DestroyAndWait(x, t);
                }
            }
        }
    }

    private static int Load(LightweightThread t, string json, out string? message)
    {
        int? status = null;
        string? said = null;
        int rc = ThreadHost.OnThread(t, () => JsonConfigLoader.Start(RpcServer.WithCoreMethods(),
            Encoding.UTF8.GetBytes(json), (s, m) =>
            {
                status = s;
                said = m;
            }));
        if (rc == 0 && !ThreadHost.PollUntil(() => status != null, t))
        {
            throw new TimeoutException("the config load did not finish");
        }
        message = said;
        return rc != 0 ? rc : status!.Value;
    }

    [Test]
    public async Task Save_config_writes_what_recreates_the_nexus_and_a_raid1_when_loaded()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-nexus-config");
        var c = new RpcTestClient(t);
        string a = Malloc("rca"), b = Malloc("rcb"), r1 = Malloc("rc1"), r2 = Malloc("rc2");
        string made = Bdevs.Unique("rc-made"), name = Bdevs.Unique("nexus"), raid = Bdevs.Unique("r1");
        string madeUri = $"malloc:///{made}?num_blocks={Blocks}&blk_size=512";
        string[] names = [a, b, r1, r2, made, name, raid];
        try
        {
            Result(c.Call("nexus_create", $"{{\"name\":\"{name}\",\"children\":[\"{a}\",\"{madeUri}\",\"{b}\"]}}"));
            Result(c.Call("nexus_fault_child", $"{{\"name\":\"{name}\",\"uri\":\"{b}\"}}"));
            Result(c.Call("nexus_set_rebuild_rate", $"{{\"name\":\"{name}\",\"max_bytes_per_sec\":123456789}}"));
            Result(c.Call("nexus_set_rebuild_verify", $"{{\"name\":\"{name}\",\"verify\":true}}"));
            Result(c.Call("bdev_raid_create",
                $"{{\"name\":\"{raid}\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"{r1}\",\"{r2}\"]}}"));
            ThreadHost.PollUntil(() => ((NexusBdev)Bdevs.Find(name)).Reconfiguring == 0, t);
            Guid uuid = Bdevs.Find(name).Uuid, raidUuid = Bdevs.Find(raid).Uuid;
            string saved = Encoding.UTF8.GetString(ConfigSubsystems.Save());
            using JsonDocument doc = JsonDocument.Parse(saved);
            JsonElement[] entries = doc.RootElement.GetProperty("subsystems").EnumerateArray()
                .Single(s => s.GetProperty("subsystem").GetString() == "bdev").GetProperty("config")
                .EnumerateArray().ToArray();
            string[] methods = entries.Select(e => e.GetProperty("method").GetString()!).ToArray();
            JsonElement create = entries.Single(e => e.GetProperty("method").GetString() == "nexus_create")
                .GetProperty("params");
            bool madeHasNoEntry = !entries.Any(e => e.GetProperty("params").TryGetProperty("name", out JsonElement x) &&
                                                    x.GetString() == made);
            // Everything goes, then the saved config brings it back.
            c.Call("nexus_destroy", $"{{\"name\":\"{name}\"}}");
            c.Call("bdev_raid_delete", $"{{\"name\":\"{raid}\"}}");
            ThreadHost.PollUntil(() => BdevRegistry.Find(name) == null && BdevRegistry.Find(raid) == null &&
                                       BdevRegistry.Find(made) == null, t);
            foreach (string x in new[] { a, b, r1, r2 })
            {
                Bdevs.DestroyAndWait(x, t);
            }
            bool allGone = names.All(x => BdevRegistry.Find(x) == null);
            int loaded = Load(t, saved, out string? message);
            var n = BdevRegistry.Find(name) as NexusBdev;
            bool bBack = n != null && ThreadHost.PollUntil(() => n.FindChild(b) is { Healthy: true }, t);
            var r = BdevRegistry.Find(raid) as NexusBdev;
            string[] children = n?.Children().Select(x => x.Name).Order().ToArray() ?? [];
            bool madeByNexus = n?.FindChild(made)?.CreatedByNexus == true;
            NexusRebuildRecord[] history = n?.RebuildHistory() ?? [];
            string resaved = Encoding.UTF8.GetString(ConfigSubsystems.Save());

            await Assert.That(methods).Contains("nexus_create");
            await Assert.That(methods).Contains("nexus_add_child");
            await Assert.That(methods).Contains("nexus_set_rebuild_rate");
            await Assert.That(methods).Contains("nexus_set_rebuild_verify");
            await Assert.That(methods.Count(m => m == "bdev_raid_create")).IsGreaterThanOrEqualTo(1);
            await Assert.That(Array.IndexOf(methods, "nexus_add_child"))
                .IsGreaterThan(Array.IndexOf(methods, "nexus_create"));
            await Assert.That(create.GetProperty("children").EnumerateArray().Select(x => x.GetString()!).ToArray())
                .IsEquivalentTo(new[] { a, madeUri }, TUnit.Assertions.Enums.CollectionOrdering.Matching);
            await Assert.That(create.GetProperty("size").GetUInt64()).IsEqualTo((ulong)Blocks * 512);
            await Assert.That(madeHasNoEntry).IsTrue();
            await Assert.That(allGone).IsTrue();
            await Assert.That(loaded).IsEqualTo(0).Because(message ?? "");
            await Assert.That(n).IsNotNull();
            await Assert.That(n!.Uuid).IsEqualTo(uuid);
            await Assert.That(n.BlockCount).IsEqualTo((ulong)Blocks);
            await Assert.That(children).IsEquivalentTo(new[] { a, b, made }.Order().ToArray());
            await Assert.That(madeByNexus).IsTrue();
            await Assert.That(bBack).IsTrue();
            await Assert.That(history.Length).IsEqualTo(1);
            await Assert.That(history[0].Partial).IsFalse();
            await Assert.That(n.RebuildRate).IsEqualTo(123456789L);
            await Assert.That(n.RebuildVerify).IsTrue();
            await Assert.That(history[0].State).IsEqualTo(NexusRebuildState.Completed);
            await Assert.That(r).IsNotNull();
            await Assert.That(r!.Uuid).IsEqualTo(raidUuid);
            await Assert.That(r.SavedAsRaid1).IsTrue();
            await Assert.That(r.Children().Count).IsEqualTo(2);
            await Assert.That(resaved).Contains("\"nexus_create\"");
            await Assert.That(resaved).DoesNotContain("\"nexus_add_child\"");
        }
        finally
        {
            foreach (string x in new[] { name, raid, made, a, b, r1, r2 })
            {
                if (BdevRegistry.Find(x) != null)
                {
                    Bdevs.DestroyAndWait(x, t);
                }
            }
        }
    }
}
