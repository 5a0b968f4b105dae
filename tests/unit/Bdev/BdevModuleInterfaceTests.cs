using System.Collections.Concurrent;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>What the module interface gives a module (SPDK's bdev_module.h): registration
/// by the module itself, examine of every new bdev, a per-I/O context sized by the module,
/// and the config dump save_config will write — checked against SPDK's own output.</summary>
[NotInParallel(Keys.Threads)]
public class BdevModuleInterfaceTests
{
    /// <summary>Sees every bdev registered, as an lvol store module would to find its
    /// metadata; creates nothing.</summary>
    private sealed class ExamineProbe : IBdevModule
    {
        public static readonly ConcurrentBag<string> Seen = new();
        public string Name => "examine-probe";
        public ReadOnlySpan<string> Schemes => new[] { "examine-probe" };
        public int IoContextSize => 16;
        public void Examine(BlockDevice bdev) => Seen.Add(bdev.Name);
        public int Create(BdevUri uri, out string? name) => throw new NotSupportedException();
    }

    private static readonly Lazy<int> s_probe = new(() => BdevModules.Register(new ExamineProbe()));

    [Test]
    public async Task A_registered_module_examines_every_new_bdev()
    {
        TestEnv.Ensure();
        int registered = s_probe.Value;
        string name = Support.Bdevs.Null("examined");
        bool seen = ExamineProbe.Seen.Contains(name);
        Support.Bdevs.DestroyAndWait(name);
        await Assert.That(registered).IsEqualTo(0);
        await Assert.That(seen).IsTrue();
    }

    [Test]
    public async Task A_scheme_cannot_be_taken_twice_and_pools_fit_every_module_context()
    {
        TestEnv.Ensure();
        _ = s_probe.Value;
        int duplicate = BdevModules.Register(new ExamineProbe());
        string message = NativeBdev.Env.LastError.Message;
        await Assert.That(duplicate).IsEqualTo(-Errno.EEXIST);
        await Assert.That(message).Contains("scheme 'examine-probe' is already");
        int stride = BdevModules.IoStride;
        int largest = 0;
        foreach (IBdevModule m in BdevModules.All.ToArray())
        {
            largest = Math.Max(largest, m.IoContextSize);
        }
        await Assert.That(stride).IsGreaterThanOrEqualTo(IoSize() + largest);
        await Assert.That(stride % 64).IsEqualTo(0);
    }

    private static unsafe int IoSize() => sizeof(BdevIo);

    [Test]
    public async Task The_config_dump_has_SPDKs_methods_and_parameter_names()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("config");
        string malloc = Support.Bdevs.Malloc("cfgm");
        string nul = Support.Bdevs.Null("cfgn");
        string pt = Support.Bdevs.Bound(t, () => Support.Bdevs.Create($"loopback:///{malloc}?name={malloc}-pt"));
        string delay = Support.Bdevs.Bound(t, () => Support.Bdevs.Create(
            $"delay:///{nul}?avg_read_us=15&p99_read_us=20&avg_write_us=30&p99_write_us=40&name={nul}-delay"));
        string error = Support.Bdevs.Bound(t, () => Support.Bdevs.Create($"error:///{nul}"));
        string json = BdevConfig.Subsystem();
        foreach (string n in new[] { error, delay, pt, nul, malloc })
        {
            Support.Bdevs.DestroyAndWait(n, t);
        }

        using JsonDocument ours = JsonDocument.Parse(json);
        var byName = new Dictionary<string, JsonElement>();
        foreach (JsonElement e in ours.RootElement.GetProperty("config").EnumerateArray())
        {
            JsonElement p = e.GetProperty("params");
            string key = p.TryGetProperty("name", out JsonElement nm)
                ? nm.GetString()!
                : "EE_" + p.GetProperty("base_name").GetString();
            byName[key] = e.Clone();
        }
        Dictionary<string, HashSet<string>> spdk = SpdkParamsByMethod();
        var problems = new List<string>();
        void Expect(string bdev, string method)
        {
            if (!byName.TryGetValue(bdev, out JsonElement e))
            {
                problems.Add($"{bdev}: no config entry");
                return;
            }
            if (e.GetProperty("method").GetString() != method)
            {
                problems.Add($"{bdev}: method {e.GetProperty("method").GetString()}, SPDK writes {method}");
                return;
            }
            foreach (JsonProperty p in e.GetProperty("params").EnumerateObject())
            {
                if (!spdk[method].Contains(p.Name))
                {
                    problems.Add($"{bdev}: parameter '{p.Name}' is not one SPDK's {method} has");
                }
            }
        }
        Expect(malloc, "bdev_malloc_create");
        Expect(nul, "bdev_null_create");
        Expect(pt, "bdev_passthru_create");
        Expect(delay, "bdev_delay_create");
        Expect(error, "bdev_error_create");
        await Assert.That(string.Join("; ", problems)).IsEqualTo("");
        await Assert.That(ours.RootElement.GetProperty("subsystem").GetString()).IsEqualTo("bdev");
        await Assert.That(byName[delay].GetProperty("params").GetProperty("p99_write_latency").GetInt64())
            .IsEqualTo(40L);
        await Assert.That(byName[nul].GetProperty("params").GetProperty("num_blocks").GetInt64())
            .IsEqualTo(8192L); // 4 MiB of 512-byte blocks
    }

    /// <summary>spdk_tgt's own framework_get_config("bdev") answer, recorded in the fixtures.</summary>
    private static Dictionary<string, HashSet<string>> SpdkParamsByMethod()
    {
        string path = Path.Combine(Fixtures.Directory(), "rpc", "055.response.json");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        var result = new Dictionary<string, HashSet<string>>();
        foreach (JsonElement e in doc.RootElement.GetProperty("result").EnumerateArray())
        {
            var keys = result.TryGetValue(e.GetProperty("method").GetString()!, out var k) ? k : new HashSet<string>();
            if (e.TryGetProperty("params", out JsonElement p))
            {
                foreach (JsonProperty prop in p.EnumerateObject())
                {
                    keys.Add(prop.Name);
                }
            }
            result[e.GetProperty("method").GetString()!] = keys;
        }
        return result;
    }
}
