using System.Text.Json;
using NativeBdev.Reactor;
using NativeBdev.Rpc;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>Replays, in order and on one connection, every request SPDK v25.09's rpc.py sent
/// to spdk_tgt in fixtures/rpc, and compares our reply's shape with spdk_tgt's (same keys,
/// same types; values may differ). Methods we do not have must answer -32601 "Method not
/// found". Where our error is more precise than SPDK's, the test says so.</summary>
[NotInParallel(Keys.Threads)]
public class RpcFixtureReplayTests
{
    /// <summary>The fixture's bdevs, deleted before and after the replay.</summary>
    private static readonly string[] s_fixtureBdevs =
        ["Malloc0", "Malloc1", "Malloc2", "Malloc3", "Malloc4", "Null0", "Null1"];

    private static string Dir => Path.Combine(Fixtures.Directory(), "rpc");

    private static IEnumerable<string> Numbers() =>
        File.ReadAllLines(Path.Combine(Dir, "INDEX")).Where(l => l.Length > 0).Select(l => l.Split('\t')[0]);

    [Test]
    public async Task Every_recorded_request_gets_a_reply_shaped_like_spdk_tgts()
    {
        TestEnv.Ensure();
        // Handlers that open bases (bdev_raid_create, bdev_split_create) run on a thread, as the
        // server's own thread is inside its poll; deletes wait for that thread's messages.
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rpc-replay");
        var client = new RpcTestClient { Pump = () => t.Poll(0, 0) };
        DeleteFixtureBdevs(client, t);
        var problems = new List<string>();
        int compared = 0, notFound = 0;
        foreach (string n in Numbers())
        {
            string request = File.ReadAllText(Path.Combine(Dir, n + ".request.json"));
            using JsonDocument req = JsonDocument.Parse(request);
            using JsonDocument spdk = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, n + ".response.json")));
            string method = req.RootElement.GetProperty("method").GetString()!;
            JsonElement ours = Bdevs.Bound(t, () => client.Call(request));
            if (client.Server.Find(method) == null)
            {
                notFound++;
                Expect(problems, n, ours, -32601, "Method not found");
                continue;
            }
            compared++;
            CheckOne(problems, n, method, req.RootElement, ours, spdk.RootElement);
        }
        List<string> left = DeleteFixtureBdevs(client, t);
        await Assert.That(problems).IsEmpty();
        // The replay created Malloc0-4, Null0 and Null1 and deleted Null1 (065).
        await Assert.That(string.Join(",", left)).IsEqualTo("Malloc0,Malloc1,Malloc2,Malloc3,Malloc4,Null0");
        await Assert.That(compared).IsGreaterThanOrEqualTo(20);
        await Assert.That(notFound).IsGreaterThanOrEqualTo(20);
    }

    private static void CheckOne(List<string> problems, string n, string method, JsonElement req, JsonElement ours,
        JsonElement spdk)
    {
        if (ours.GetProperty("id").GetRawText() != spdk.GetProperty("id").GetRawText())
        {
            problems.Add($"{n}: id {ours.GetProperty("id")} instead of {spdk.GetProperty("id")}");
        }
        if (n is "062" or "063")
        {
            // SPDK answers a parameter of the wrong type with -32603 "spdk_json_decode_object
            // failed"; ours is -32602 and names the parameter.
            string param = n == "062" ? "'num_blocks'" : "'name'";
            ExpectContains(problems, n, ours, -32602, param);
            return;
        }
        if (method == "framework_get_config" &&
            req.GetProperty("params").GetProperty("name").GetString() is var sub && sub != "bdev")
        {
            // Only the bdev subsystem exists here.
            Expect(problems, n, ours, -32602, $"Subsystem '{sub}' not found");
            return;
        }
        if (spdk.TryGetProperty("error", out JsonElement spdkError))
        {
            Expect(problems, n, ours, spdkError.GetProperty("code").GetInt32(),
                spdkError.GetProperty("message").GetString()!);
            return;
        }
        if (!ours.TryGetProperty("result", out JsonElement result))
        {
            problems.Add($"{n} {method}: {ours.GetRawText()} instead of a result");
            return;
        }
        JsonShape.Compare(result, spdk.GetProperty("result"), $"{n} {method}", problems);
    }

    private static void Expect(List<string> problems, string n, JsonElement ours, int code, string message)
    {
        if (!ours.TryGetProperty("error", out JsonElement e) || e.GetProperty("code").GetInt32() != code ||
            e.GetProperty("message").GetString() != message)
        {
            problems.Add($"{n}: {ours.GetRawText()} instead of error {code} \"{message}\"");
        }
    }

    private static void ExpectContains(List<string> problems, string n, JsonElement ours, int code, string part)
    {
        if (!ours.TryGetProperty("error", out JsonElement e) || e.GetProperty("code").GetInt32() != code ||
            !e.GetProperty("message").GetString()!.Contains(part))
        {
            problems.Add($"{n}: {ours.GetRawText()} instead of error {code} naming {part}");
        }
    }

    /// <summary>Deletes the fixture's bdevs; returns those that existed.</summary>
    private static List<string> DeleteFixtureBdevs(RpcTestClient client, LightweightThread t)
    {
        var deleted = new List<string>();
        foreach (string b in s_fixtureBdevs)
        {
            string method = b.StartsWith("Malloc") ? "bdev_malloc_delete" : "bdev_null_delete";
            if (Bdevs.Bound(t, () => client.Call(method, "{\"name\":\"" + b + "\"}"))
                    .TryGetProperty("result", out JsonElement r) &&
                r.GetBoolean())
            {
                deleted.Add(b);
            }
        }
        return deleted;
    }
}
