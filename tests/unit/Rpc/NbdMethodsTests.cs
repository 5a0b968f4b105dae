using System.Text.Json;
using NativeBdev.Nbd;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>nbd_server_start/add_export/remove_export/stop: success and errors.</summary>
[NotInParallel(Keys.Threads)]
public class NbdMethodsTests
{
    private static (int Code, string Message) ErrorOf(JsonElement reply)
    {
        JsonElement e = reply.GetProperty("error");
        return (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!);
    }

    private static bool Ok(JsonElement reply) =>
        reply.TryGetProperty("result", out JsonElement r) && r.ValueKind == JsonValueKind.True;

    [Test]
    public async Task The_server_starts_exports_withdraws_and_stops_with_errors_for_each_misuse()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-nbd");
        string bdev = Bdevs.Malloc("rpc-nbd", "size_mb=1");
        var c = new RpcTestClient();
        JsonElement Call(string method, string? p) => ThreadHost.OnThread(t, () => c.Call(method, p));
        string export = $"{{\"name\":\"a\",\"bdev_name\":\"{bdev}\"}}";
        (int, string) notRunning = ErrorOf(Call("nbd_server_add_export", export));
        (int, string) badAddress = ErrorOf(Call("nbd_server_start", "{\"listen_address\":\"nowhere\"}"));
        bool started = Ok(Call("nbd_server_start", "{\"listen_address\":\"127.0.0.1:0\"}"));
        (int, string) twice = ErrorOf(Call("nbd_server_start", "{\"listen_address\":\"127.0.0.1:0\"}"));
        bool added = Ok(Call("nbd_server_add_export",
            $"{{\"name\":\"a\",\"bdev_name\":\"{bdev}\",\"read_only\":true,\"description\":\"d\"}}"));
        var exports = NbdService.Current!.Exports()
            .Select(e => (e.Name, e.BdevName, e.ReadOnly, e.Description)).ToList();
        (int, string) sameName = ErrorOf(Call("nbd_server_add_export", $"{{\"name\":\"a\",\"bdev_name\":\"{bdev}\"}}"));
        (int, string) noBdev = ErrorOf(Call("nbd_server_add_export", "{\"name\":\"b\",\"bdev_name\":\"nosuch\"}"));
        (int, string) missing = ErrorOf(Call("nbd_server_add_export", "{\"name\":\"b\"}"));
        (int, string) wrongType = ErrorOf(Call("nbd_server_add_export",
            $"{{\"name\":\"b\",\"bdev_name\":\"{bdev}\",\"read_only\":\"yes\"}}"));
        bool removed = Ok(Call("nbd_server_remove_export", "{\"name\":\"a\"}"));
        (int, string) removedTwice = ErrorOf(Call("nbd_server_remove_export", "{\"name\":\"a\"}"));
        bool stopped = Ok(Call("nbd_server_stop", null));
        (int, string) stoppedTwice = ErrorOf(Call("nbd_server_stop", "{}"));
        Bdevs.DestroyAndWait(bdev, t);
        await Assert.That(notRunning).IsEqualTo((-2, "No such file or directory"));
        await Assert.That(badAddress.Item1).IsEqualTo(-22);
        await Assert.That(started).IsTrue();
        await Assert.That(twice.Item1).IsEqualTo(-114);
        await Assert.That(added).IsTrue();
        await Assert.That(exports).IsEquivalentTo(new[] { ("a", bdev, true, "d") });
        await Assert.That(sameName.Item1).IsEqualTo(-17);
        await Assert.That(noBdev).IsEqualTo((-19, "No such device"));
        await Assert.That(missing.Item1).IsEqualTo(-32602);
        await Assert.That(missing.Item2).Contains("'bdev_name'");
        await Assert.That(wrongType.Item1).IsEqualTo(-32602);
        await Assert.That(removed).IsTrue();
        await Assert.That(removedTwice.Item1).IsEqualTo(-2);
        await Assert.That(stopped).IsTrue();
        await Assert.That(stoppedTwice.Item1).IsEqualTo(-2);
    }
}
