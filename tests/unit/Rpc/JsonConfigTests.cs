using System.Text;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Rpc;
using NativeBdev.Targets.Nvmf;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>SPDK JSON configs: the one spdk_tgt saved in fixtures/rpc loads, what we save
/// loads back into the same bdevs, and a config that fails half-way leaves nothing behind.</summary>
[NotInParallel(Keys.Threads)]
public class JsonConfigTests
{
    private sealed class Load
    {
        public int? Status;
        public string? Message;
    }

    /// <summary>Loads <paramref name="json"/> on <paramref name="t"/>; null when Start refused it.</summary>
    private static (int StartRc, Load Result) Run(LightweightThread t, string json, RpcServer? server = null)
    {
        var result = new Load();
        int rc = ThreadHost.OnThread(t, () => JsonConfigLoader.Start(server ?? RpcServer.WithCoreMethods(),
            Encoding.UTF8.GetBytes(json), (status, message) =>
            {
                result.Status = status;
                result.Message = message;
            }));
        if (rc == 0 && !ThreadHost.PollUntil(() => result.Status != null, t))
        {
            throw new TimeoutException("the config load did not finish");
        }
        return (rc, result);
    }

    private static string Config(params (string Subsystem, string Entries)[] subsystems) =>
        "{\"subsystems\":[" + string.Join(",", subsystems.Select(s =>
            $"{{\"subsystem\":\"{s.Subsystem}\",\"config\":[{s.Entries}]}}")) + "]}";

    private static string Malloc(string name, int blocks = 64) =>
        $"{{\"method\":\"bdev_malloc_create\",\"params\":{{\"name\":\"{name}\",\"num_blocks\":{blocks}," +
        "\"block_size\":512}}";

    [Test]
    public async Task The_config_spdk_tgt_saved_loads_with_its_vbdevs_listed_before_their_bases()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("cfg-fixture");
        string dir = Path.Combine(Fixtures.Directory(), "rpc");
        var server = RpcServer.WithCoreMethods();
        // The subsystems and each one's config as rpc.py's save_config put them together.
        var subsystems = new List<string>();
        var methodsKept = new List<string>();
        var skipped = new List<string>();
        for (int n = 50; n <= 60; n++)
        {
            using JsonDocument req = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"0{n}.request.json")));
            using JsonDocument resp = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"0{n}.response.json")));
            string name = req.RootElement.GetProperty("params").GetProperty("name").GetString()!;
            JsonElement config = resp.RootElement.GetProperty("result");
            var kept = new List<string>();
            if (config.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement e in config.EnumerateArray())
                {
                    string m = e.GetProperty("method").GetString()!;
                    // Methods of modules that are not built in yet (raid, split, the NVMe-oF
                    // target) are left out; everything else of spdk_tgt's must load.
                    if (server.Find(m) == null && !m.EndsWith("_set_options", StringComparison.Ordinal) &&
                        m is not ("bdev_wait_for_examine" or "sock_set_default_impl" or "bdev_nvme_set_hotplug" or
                            "framework_set_scheduler" or "nvmf_set_config" or "nvmf_set_max_subsystems" or
                            "nvmf_set_crdt"))
                    {
                        skipped.Add(m);
                        continue;
                    }
                    kept.Add(e.GetRawText());
                    methodsKept.Add(m);
                }
            }
            subsystems.Add($"{{\"subsystem\":\"{name}\",\"config\":[{string.Join(",", kept)}]}}");
        }
        string json = "{\"subsystems\":[" + string.Join(",", subsystems) + "]}";
        Directory.CreateDirectory("/var/tmp/nbdev-fixture");
        foreach (string f in new[] { "aio.img", "uring.img" })
        {
            using FileStream fs = File.Create(Path.Combine("/var/tmp/nbdev-fixture", f));
            fs.SetLength(16 << 20);
        }
        string[] expected = ["PT0", "EE_Malloc1", "Delay0", "Malloc0", "Malloc1", "Null0", "Null1", "Aio0", "Uring0"];
        try
        {
            (int rc, Load r) = Run(t, json, server);
            await Assert.That(rc).IsEqualTo(0);
            await Assert.That(r.Message).IsNull();
            await Assert.That(r.Status).IsEqualTo(0);
            foreach (string b in expected)
            {
                await Assert.That(BdevRegistry.Find(b)).IsNotNull().Because(b);
            }
            await Assert.That(Bdevs.Find("Delay0").ModuleName).IsEqualTo("delay");
            await Assert.That(Bdevs.Find("Aio0").BlockSize).IsEqualTo(4096u);
            await Assert.That(methodsKept).Contains("bdev_passthru_create");
            await Assert.That(methodsKept).Contains("iobuf_set_options");
            // The nvmf section made the target spdk_tgt had: cnode1 over Null1 on 127.0.0.1:4420.
            NvmfSubsystem? cnode1 = NvmfService.Current?.Find("nqn.2016-06.io.spdk:cnode1");
            await Assert.That(cnode1).IsNotNull();
            await Assert.That(cnode1!.Namespaces.Select(ns => ns.Bdev.Name).ToArray()).IsEquivalentTo(["Null1"]);
            await Assert.That(cnode1.Listeners.Select(l => l.Key).ToArray()).IsEquivalentTo(["127.0.0.1:4420"]);
        }
        finally
        {
            if (NvmfService.Current != null)
            {
                ThreadHost.OnThread(t, NvmfService.Stop);
            }
            foreach (string b in expected.Concat(["Malloc2", "Malloc3", "Malloc4"]))
            {
                if (BdevRegistry.Find(b) != null)
                {
                    Bdevs.DestroyAndWait(b, t);
                }
            }
            Directory.Delete("/var/tmp/nbdev-fixture", true);
        }
    }

    private static (string, uint, ulong, Guid) Identity(NativeBdev.Bdev.Bdev b) =>
        (b.Name, b.BlockSize, b.BlockCount, b.ModuleName == "error" ? Guid.Empty : b.Uuid);

    [Test]
    public async Task What_save_writes_loads_back_into_the_same_bdevs()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("cfg-roundtrip");
        string m = Bdevs.Unique("cm"), n = Bdevs.Unique("cn");
        string file = Path.Combine(Path.GetTempPath(), Bdevs.Unique("cfg") + ".img");
        File.WriteAllBytes(file, new byte[1 << 20]);
        string[] names = [m, n, m + "_pt", m + "_dly", "EE_" + n, Bdevs.Unique("ca")];
        try
        {
            Bdevs.Create($"malloc:///{m}?num_blocks=128&blk_size=4096");
            Bdevs.Create($"null:///{n}?num_blocks=1000&blk_size=512");
            Bdevs.Bound(t, () => Bdevs.Create($"bdev:///{m}?name={names[2]}"));
            Bdevs.Bound(t, () => Bdevs.Create($"delay:///{m}?name={names[3]}&avg_read_us=5&p99_read_us=9"));
            Bdevs.Bound(t, () => Bdevs.Create($"error:///{n}"));
            Bdevs.Create($"aio://{file}?name={names[5]}");
            // SPDK's bdev_error_create entry carries only base_name, so an error bdev comes
            // back with a new UUID there and here; every other bdev keeps its own.
            var before = names.Select(x => Bdevs.Find(x)).Select(Identity).ToList();
            string saved = Encoding.UTF8.GetString(ConfigSubsystems.Save());
            foreach (string x in new[] { m, n, names[5] })
            {
                Bdevs.DestroyAndWait(x, t);
            }
            bool allGone = names.All(x => BdevRegistry.Find(x) == null);
            (int rc, Load r) = Run(t, saved);
            var after = names.Select(x => BdevRegistry.Find(x)).Where(b => b != null).Select(b => Identity(b!))
                .ToList();
            await Assert.That(allGone).IsTrue();
            await Assert.That(rc).IsEqualTo(0);
            await Assert.That(r.Status).IsEqualTo(0).Because(r.Message ?? "");
            await Assert.That(after).IsEquivalentTo(before);
            // What SPDK writes, we write: one subsystems array of {subsystem, config}.
            using JsonDocument doc = JsonDocument.Parse(saved);
            await Assert.That(doc.RootElement.GetProperty("subsystems")[0].GetProperty("subsystem").GetString())
                .IsEqualTo("bdev");
        }
        finally
        {
            foreach (string x in names)
            {
                if (BdevRegistry.Find(x) != null)
                {
                    Bdevs.DestroyAndWait(x, t);
                }
            }
            File.Delete(file);
        }
    }

    [Test]
    public async Task A_config_failing_half_way_names_the_entry_and_leaves_nothing_behind()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("cfg-fail");
        string a = Bdevs.Unique("fa"), b = Bdevs.Unique("fb");
        string key = Bdevs.Unique("fk");
        string json = Config(
            ("accel", "{\"method\":\"accel_crypto_key_create\",\"params\":{\"name\":\"" + key + "\",\"cipher\":" +
                "\"AES_XTS\",\"key\":\"00112233445566778899aabbccddeeff\"," +
                "\"key2\":\"ffeeddccbbaa99887766554433221100\"}}"),
            ("bdev", Malloc(a) + "," + Malloc(b) + "," +
                "{\"method\":\"bdev_malloc_create\",\"params\":{\"name\":\"x\",\"num_blocks\":8,\"block_size\":3}}"));
        (int rc, Load r) = Run(t, json);
        ThreadHost.PollUntil(() => BdevRegistry.Find(a) == null && BdevRegistry.Find(b) == null, t);
        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(r.Status).IsEqualTo(-Errno.EINVAL);
        await Assert.That(r.Message!).Contains("subsystem 'bdev' entry 2 (bdev_malloc_create) failed");
        await Assert.That(BdevRegistry.Find(a)).IsNull();
        await Assert.That(BdevRegistry.Find(b)).IsNull();
        await Assert.That(NativeBdev.Crypto.CryptoKeyRegistry.Snapshot().Any(k => k.Name == key)).IsFalse();

        // A vbdev whose base never comes fails at the end of its subsystem, named.
        string pt = Bdevs.Unique("fp");
        (int rc2, Load r2) = Run(t, Config(("bdev", Malloc(a) + ",{\"method\":\"bdev_passthru_create\",\"params\":" +
            $"{{\"base_bdev_name\":\"nowhere\",\"name\":\"{pt}\"}}}}")));
        ThreadHost.PollUntil(() => BdevRegistry.Find(a) == null, t);
        await Assert.That(rc2).IsEqualTo(0);
        await Assert.That(r2.Status).IsEqualTo(-Errno.EINVAL);
        await Assert.That(r2.Message!).Contains("entry 1 (bdev_passthru_create)");
        await Assert.That(BdevRegistry.Find(a)).IsNull();
    }

    [Test]
    public async Task A_config_that_is_not_utf8_is_refused_before_anything_runs()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("cfg-utf8");
        // A method name with a byte that is no UTF-8 (found by fuzz_config).
        byte[] json = Encoding.UTF8.GetBytes(
            "{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[{\"method\":\"bdev_X\"}]}]}");
        json[Array.IndexOf(json, (byte)'X')] = 0xff;
        int rc = ThreadHost.OnThread(t, () => JsonConfigLoader.Start(RpcServer.WithCoreMethods(), json, (_, _) => { }));
        string error = LastError.Message;
        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(error).Contains("not UTF-8");
    }

    [Test]
    [Arguments("not json", "not JSON")]
    [Arguments("{\"subsystem\":[]}", "no \"subsystems\" array")]
    [Arguments("{\"subsystems\":[{\"subsystem\":\"martian\",\"config\":[]}]}", "subsystem 'martian'")]
    [Arguments("{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[]},{\"subsystem\":\"bdev\",\"config\":[]}]}",
        "given twice")]
    [Arguments("{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":{}}]}", "\"config\" is not an array")]
    [Arguments("{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":[{\"params\":{}}]}]}",
        "entry 0 has no \"method\"")]
    public async Task A_file_that_is_not_a_config_is_refused_before_anything_runs(string json, string message)
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("cfg-bad");
        (int rc, Load r) = Run(t, json);
        string error = LastError.Message;
        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(r.Status).IsNull();
        await Assert.That(error).Contains(message);
    }
}
