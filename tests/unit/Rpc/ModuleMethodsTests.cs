using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Rpc;

/// <summary>The file, virtual, crypto and statistics methods: each one's success, checked
/// through the bdevs it makes or the I/O it affects, and its errors.</summary>
[NotInParallel(Keys.Threads)]
public class ModuleMethodsTests
{
    private static (int Code, string Message) ErrorOf(JsonElement reply)
    {
        if (!reply.TryGetProperty("error", out JsonElement e))
        {
            return (0, reply.GetRawText());
        }
        return (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!);
    }

    /// <summary>Leaves nothing behind whatever the test got to (most bdevs are deleted by it).</summary>
    private static void Cleanup(string name, LightweightThread t)
    {
        if (BdevRegistry.Find(name) != null)
        {
            Bdevs.DestroyAndWait(name, t);
        }
    }

    private static string Result(JsonElement reply) =>
        reply.TryGetProperty("result", out JsonElement r) ? r.ToString() : "error: " + reply.GetRawText();

    [Test]
    public async Task Aio_and_uring_create_open_the_file_and_delete_only_their_own()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-files");
        var c = new RpcTestClient(t);
        string dir = Directory.CreateTempSubdirectory("nb-rpc-").FullName;
        string file = Path.Combine(dir, "disk?#1.img"); // characters a URI would misread
        File.WriteAllBytes(file, new byte[1 << 20]);
        string aio = Bdevs.Unique("aio"), uring = Bdevs.Unique("uring");
        try
        {
            string a = Result(c.Call("bdev_aio_create",
                $"{{\"filename\":{JsonSerializer.Serialize(file)},\"name\":\"{aio}\",\"block_size\":4096," +
                "\"readonly\":false,\"fallocate\":false}"));
            BlockDevice ab = Bdevs.Find(aio);
            (int, string) fallocate = ErrorOf(c.Call("bdev_aio_create",
                $"{{\"filename\":{JsonSerializer.Serialize(file)},\"name\":\"x{aio}\",\"fallocate\":true}}"));
            (int, string) missing = ErrorOf(c.Call("bdev_uring_create",
                $"{{\"filename\":\"{dir}/none.img\",\"name\":\"{uring}\"}}"));
            string u = Result(c.Call("bdev_uring_create",
                $"{{\"filename\":{JsonSerializer.Serialize(file)},\"name\":\"{uring}\"}}"));
            BlockDevice ub = Bdevs.Find(uring);
            (int, string) wrong = ErrorOf(c.Call("bdev_uring_delete", $"{{\"name\":\"{aio}\"}}"));
            string deletedA = Result(c.Call("bdev_aio_delete", $"{{\"name\":\"{aio}\"}}"));
            string deletedU = Result(c.Call("bdev_uring_delete", $"{{\"name\":\"{uring}\"}}"));
            await Assert.That(a).IsEqualTo(aio);
            await Assert.That((ab.BlockSize, ab.BlockCount, ab.ModuleName)).IsEqualTo((4096u, 256ul, "aio"));
            await Assert.That(fallocate.Item1).IsEqualTo(-32602);
            await Assert.That(fallocate.Item2).Contains("'fallocate'");
            await Assert.That(missing).IsEqualTo((-2, "No such file or directory"));
            await Assert.That(u).IsEqualTo(uring);
            await Assert.That((ub.BlockSize, ub.BlockCount)).IsEqualTo((512u, 2048ul));
            await Assert.That(wrong).IsEqualTo((-19, "No such device"));
            await Assert.That((deletedA, deletedU)).IsEqualTo(("True", "True"));
            await Assert.That(BdevRegistry.Find(aio) ?? BdevRegistry.Find(uring)).IsNull();
        }
        finally
        {
            Cleanup(aio, t);
            Cleanup(uring, t);
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public async Task Error_bdev_injections_fail_the_next_ios_and_clear_removes_them()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-error");
        var c = new RpcTestClient(t);
        string baseName = Bdevs.Malloc("rpce");
        string ee = "EE_" + baseName;
        using var buf = new DmaBuffer(4096);
        try
        {
            string created = Result(c.Call("bdev_error_create", $"{{\"base_name\":\"{baseName}\"}}"));
            (int, string) badType = ErrorOf(c.Call("bdev_error_inject_error",
                $"{{\"name\":\"{ee}\",\"io_type\":\"sideways\",\"error_type\":\"failure\"}}"));
            (int, string) nvmeNoStatus = ErrorOf(c.Call("bdev_error_inject_error",
                $"{{\"name\":\"{ee}\",\"io_type\":\"read\",\"error_type\":\"nvme_failure\"}}"));
            (int, string) noBdev = ErrorOf(c.Call("bdev_error_inject_error",
                "{\"name\":\"EE_none\",\"io_type\":\"read\",\"error_type\":\"failure\"}"));
            string injected = Result(c.Call("bdev_error_inject_error",
                $"{{\"name\":\"{ee}\",\"io_type\":\"read\",\"error_type\":\"failure\",\"num\":2}}"));
            var s = BdevSession.Open(t, ee);
            int r1 = s.Run(BdevIoType.Read, buf.Pointer, 0, 8), r2 = s.Run(BdevIoType.Read, buf.Pointer, 0, 8);
            int r3 = s.Run(BdevIoType.Read, buf.Pointer, 0, 8);
            Result(c.Call("bdev_error_inject_error",
                $"{{\"name\":\"{ee}\",\"io_type\":\"write\",\"error_type\":\"nvme_failure\",\"nvme_sct\":0," +
                "\"nvme_sc\":2,\"num\":5}"));
            int w1 = s.Run(BdevIoType.Write, buf.Pointer, 0, 8);
            string cleared = Result(c.Call("bdev_error_inject_error",
                $"{{\"name\":\"{ee}\",\"io_type\":\"clear\",\"error_type\":\"failure\"}}"));
            int w2 = s.Run(BdevIoType.Write, buf.Pointer, 0, 8);
            s.Close();
            string deleted = Result(c.Call("bdev_error_delete", $"{{\"name\":\"{ee}\"}}"));
            await Assert.That(created).IsEqualTo("True");
            await Assert.That(badType.Item1).IsEqualTo(-32602);
            await Assert.That(badType.Item2).Contains("'io_type'");
            await Assert.That(nvmeNoStatus)
                .IsEqualTo((-22, "nvme_sct or nvme_sc should be specified for NVMe error injection"));
            await Assert.That(noBdev).IsEqualTo((-19, "No such device"));
            await Assert.That(injected).IsEqualTo("True");
            await Assert.That((r1, r2, r3)).IsEqualTo((-Errno.EIO, -Errno.EIO, 0));
            await Assert.That(w1).IsNotEqualTo(0);
            await Assert.That(cleared).IsEqualTo("True");
            await Assert.That(w2).IsEqualTo(0);
            await Assert.That(deleted).IsEqualTo("True");
        }
        finally
        {
            Cleanup(ee, t);
            Cleanup(baseName, t);
        }
    }

    [Test]
    public async Task Passthru_and_delay_create_over_a_base_and_latency_updates_reach_the_config()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-delay");
        var c = new RpcTestClient(t);
        string baseName = Bdevs.Null("rpcd");
        string pt = Bdevs.Unique("pt"), delay = Bdevs.Unique("dly");
        try
        {
            string p = Result(c.Call("bdev_passthru_create",
                $"{{\"base_bdev_name\":\"{baseName}\",\"name\":\"{pt}\"}}"));
            (int, string) noBase = ErrorOf(c.Call("bdev_passthru_create",
                "{\"base_bdev_name\":\"none\",\"name\":\"x\"}"));
            string d = Result(c.Call("bdev_delay_create",
                $"{{\"base_bdev_name\":\"{baseName}\",\"name\":\"{delay}\",\"avg_read_latency\":10," +
                "\"p99_read_latency\":20,\"avg_write_latency\":30,\"p99_write_latency\":40}"));
            (int, string) p99BelowAvg = ErrorOf(c.Call("bdev_delay_update_latency",
                $"{{\"delay_bdev_name\":\"{delay}\",\"latency_type\":\"avg_read\",\"latency_us\":25}}"));
            string updated = Result(c.Call("bdev_delay_update_latency",
                $"{{\"delay_bdev_name\":\"{delay}\",\"latency_type\":\"avg_read\",\"latency_us\":15}}"));
            (int, string) badType = ErrorOf(c.Call("bdev_delay_update_latency",
                $"{{\"delay_bdev_name\":\"{delay}\",\"latency_type\":\"median\",\"latency_us\":15}}"));
            (int, string) notDelay = ErrorOf(c.Call("bdev_delay_update_latency",
                $"{{\"delay_bdev_name\":\"{pt}\",\"latency_type\":\"avg_read\",\"latency_us\":15}}"));
            JsonElement config = c.Call("framework_get_config", "{\"name\":\"bdev\"}").GetProperty("result");
            JsonElement entry = config.EnumerateArray().Single(e =>
                e.GetProperty("method").GetString() == "bdev_delay_create" &&
                e.GetProperty("params").GetProperty("name").GetString() == delay).GetProperty("params");
            (int, string) wrongModule = ErrorOf(c.Call("bdev_delay_delete", $"{{\"name\":\"{pt}\"}}"));
            string deletedD = Result(c.Call("bdev_delay_delete", $"{{\"name\":\"{delay}\"}}"));
            string deletedP = Result(c.Call("bdev_passthru_delete", $"{{\"name\":\"{pt}\"}}"));
            await Assert.That(p).IsEqualTo(pt);
            await Assert.That(noBase.Item1).IsEqualTo(-19);
            await Assert.That(d).IsEqualTo(delay);
            await Assert.That(p99BelowAvg).IsEqualTo((-22, "Invalid argument"));
            await Assert.That(updated).IsEqualTo("True");
            await Assert.That(badType).IsEqualTo((-22, "Invalid argument"));
            await Assert.That(notDelay).IsEqualTo((-19, "No such device"));
            await Assert.That(entry.GetProperty("avg_read_latency").GetInt64()).IsEqualTo(15);
            await Assert.That(entry.GetProperty("p99_write_latency").GetInt64()).IsEqualTo(40);
            await Assert.That(wrongModule).IsEqualTo((-19, "No such device"));
            await Assert.That((deletedD, deletedP)).IsEqualTo(("True", "True"));
        }
        finally
        {
            Cleanup(delay, t);
            Cleanup(pt, t);
            Cleanup(baseName, t);
        }
    }

    [Test]
    public async Task Crypto_keys_and_bdevs_by_rpc_never_show_key_material()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-crypto");
        var c = new RpcTestClient(t);
        string baseName = Bdevs.Malloc("rpcc");
        string key = Bdevs.Unique("k"), vbdev = Bdevs.Unique("crypt");
        const string k1 = "00112233445566778899aabbccddeeff", k2 = "ffeeddccbbaa99887766554433221100";
        try
        {
            string made = Result(c.Call("accel_crypto_key_create",
                $"{{\"cipher\":\"AES_XTS\",\"key\":\"{k1}\",\"key2\":\"{k2}\",\"tweak_mode\":\"SIMPLE_LBA\"," +
                $"\"name\":\"{key}\"}}"));
            (int, string) same = ErrorOf(c.Call("accel_crypto_key_create",
                $"{{\"cipher\":\"AES_XTS\",\"key\":\"{k1}\",\"key2\":\"{k1}\",\"name\":\"{key}2\"}}"));
            (int, string) tweak = ErrorOf(c.Call("accel_crypto_key_create",
                $"{{\"cipher\":\"AES_XTS\",\"key\":\"{k1}\",\"key2\":\"{k2}\",\"tweak_mode\":\"INCR_512_FULL_LBA\"," +
                $"\"name\":\"{key}3\"}}"));
            string v = Result(c.Call("bdev_crypto_create",
                $"{{\"base_bdev_name\":\"{baseName}\",\"name\":\"{vbdev}\",\"key_name\":\"{key}\"}}"));
            JsonElement keys = c.Call("accel_crypto_keys_get", $"{{\"key_name\":\"{key}\"}}");
            (int, string) busy = ErrorOf(c.Call("accel_crypto_key_destroy", $"{{\"key_name\":\"{key}\"}}"));
            (int, string) noKey = ErrorOf(c.Call("accel_crypto_keys_get", "{\"key_name\":\"none\"}"));
            string deleted = Result(c.Call("bdev_crypto_delete", $"{{\"name\":\"{vbdev}\"}}"));
            string destroyed = Result(c.Call("accel_crypto_key_destroy", $"{{\"key_name\":\"{key}\"}}"));
            await Assert.That(made).IsEqualTo("True");
            await Assert.That(same).IsEqualTo((-22, "Invalid argument"));
            await Assert.That(tweak.Item1).IsEqualTo(-32602);
            await Assert.That(v).IsEqualTo(vbdev);
            JsonElement info = keys.GetProperty("result")[0];
            await Assert.That(info.GetProperty("tweak_mode").GetString()).IsEqualTo("spdk-sw");
            await Assert.That(info.GetProperty("users")[0].GetString()).IsEqualTo(vbdev);
            await Assert.That(keys.GetRawText()).DoesNotContain(k1);
            await Assert.That(keys.GetRawText()).DoesNotContain(k2);
            await Assert.That(busy).IsEqualTo((-16, "Device or resource busy"));
            await Assert.That(noKey).IsEqualTo((-2, "No such file or directory"));
            await Assert.That((deleted, destroyed)).IsEqualTo(("True", "True"));
        }
        finally
        {
            Cleanup(vbdev, t);
            Cleanup(baseName, t);
            NativeBdev.Crypto.CryptoKeyRegistry.Destroy(key);
        }
    }

    [Test]
    public async Task Iostat_counts_the_ios_done_and_reset_clears_them()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-stats");
        var c = new RpcTestClient(t);
        string name = Bdevs.Malloc("rpcs");
        using var buf = new DmaBuffer(4096);
        try
        {
            var s = BdevSession.Open(t, name);
            s.Run(BdevIoType.Read, buf.Pointer, 0, 8);
            s.Run(BdevIoType.Read, buf.Pointer, 8, 8);
            s.Run(BdevIoType.Write, buf.Pointer, 0, 8);
            JsonElement stat = c.Call("bdev_get_iostat", $"{{\"name\":\"{name}\"}}").GetProperty("result");
            JsonElement perChannel = c.Call("bdev_get_iostat", $"{{\"name\":\"{name}\",\"per_channel\":true}}")
                .GetProperty("result");
            (int, string) noName = ErrorOf(c.Call("bdev_get_iostat", "{\"per_channel\":true}"));
            (int, string) missing = ErrorOf(c.Call("bdev_get_iostat", "{\"name\":\"none\"}"));
            (int, string) maxmin = ErrorOf(c.Call("bdev_reset_iostat", $"{{\"name\":\"{name}\",\"mode\":\"maxmin\"}}"));
            string reset = Result(c.Call("bdev_reset_iostat", $"{{\"name\":\"{name}\"}}"));
            JsonElement after = c.Call("bdev_get_iostat", $"{{\"name\":\"{name}\"}}").GetProperty("result");
            s.Close();
            JsonElement b = stat.GetProperty("bdevs")[0];
            await Assert.That(stat.GetProperty("tick_rate").GetInt64()).IsEqualTo(Ticks.Hz);
            await Assert.That(b.GetProperty("num_read_ops").GetInt64()).IsEqualTo(2);
            await Assert.That(b.GetProperty("bytes_read").GetInt64()).IsEqualTo(2 * 8 * 512);
            await Assert.That(b.GetProperty("num_write_ops").GetInt64()).IsEqualTo(1);
            await Assert.That(b.GetProperty("max_read_latency_ticks").GetInt64())
                .IsGreaterThanOrEqualTo(b.GetProperty("min_read_latency_ticks").GetInt64());
            JsonElement ch = perChannel.GetProperty("channels")[0];
            await Assert.That(ch.GetProperty("thread_id").GetInt32()).IsEqualTo(t.Index + 1);
            await Assert.That(ch.GetProperty("num_read_ops").GetInt64()).IsEqualTo(2);
            await Assert.That(noName).IsEqualTo((-22, "Bdev name is required for per channel IO statistics"));
            await Assert.That(missing).IsEqualTo((-19, "No such device"));
            await Assert.That(maxmin.Item1).IsEqualTo(-32602);
            await Assert.That(reset).IsEqualTo("True");
            await Assert.That(after.GetProperty("bdevs")[0].GetProperty("num_read_ops").GetInt64()).IsEqualTo(0);
        }
        finally
        {
            Cleanup(name, t);
        }
    }

    [Test]
    public async Task Thread_stats_list_every_thread_with_its_pollers_and_busy_time()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-threads");
        LightweightThread other = host.Create("rpc-threads-2");
        var probe = new NativeBdev.Tests.Reactor.PollerProbe();
        Poller p = probe.Register(other, 0);
        for (int i = 0; i < 20; i++)
        {
            ThreadHost.Poll(other);
        }
        var c = new RpcTestClient(t);
        List<string> lines = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"thread_get_stats\",\"id\":1}");
        // The walk visits every thread in turn: poll the other one until the reply comes.
        for (int i = 0; lines.Count == 0 && i < 1000; i++)
        {
            ThreadHost.Poll(other);
            ThreadHost.Poll(t);
            lines.AddRange(c.Connection.TakeOutput() is { Length: > 0 } o
                ? System.Text.Encoding.UTF8.GetString(o).Split('\n', StringSplitOptions.RemoveEmptyEntries) : []);
        }
        JsonElement reactors = c.Call("framework_get_reactors", null).GetProperty("result");
        using JsonDocument doc = JsonDocument.Parse(lines[0]);
        JsonElement threads = doc.RootElement.GetProperty("result").GetProperty("threads");
        JsonElement mine = threads.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "rpc-threads-2");
        await Assert.That(mine.GetProperty("id").GetInt32()).IsEqualTo(other.Index + 1);
        await Assert.That(mine.GetProperty("active_pollers_count").GetInt32()).IsEqualTo(1);
        await Assert.That(mine.GetProperty("busy").GetInt64()).IsGreaterThan(0);
        await Assert.That(threads.EnumerateArray().Any(e => e.GetProperty("name").GetString() == "rpc-threads"))
            .IsTrue();
        await Assert.That(reactors.GetProperty("pid").GetInt32()).IsEqualTo(Environment.ProcessId);
        await Assert.That(reactors.GetProperty("reactors").GetArrayLength()).IsEqualTo(ReactorSet.Reactors.Length);
        ThreadHost.OnThread(other, () => other.UnregisterPoller(p));
    }
}
