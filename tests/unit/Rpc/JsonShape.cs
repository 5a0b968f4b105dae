using System.Text.Json;

namespace NativeBdev.Tests.Rpc;

/// <summary>Compares two JSON values by shape: the same keys and the same value types,
/// whatever the values. Arrays compare each of our elements with theirs: the element of
/// theirs with the same "method" (config entries) or "nqn" (NVMe-oF subsystems), else their
/// first one.</summary>
internal static class JsonShape
{
    /// <summary>Keys SPDK writes only for some devices, which ours may leave out.</summary>
    public static readonly HashSet<string> MayBeAbsent = ["memory_domains"];

    public static void Compare(JsonElement ours, JsonElement theirs, string path, List<string> problems,
        bool keysMayBeSubset = false)
    {
        if (Kind(ours) != Kind(theirs))
        {
            problems.Add($"{path}: ours is {ours.ValueKind}, SPDK's {theirs.ValueKind}");
            return;
        }
        if (ours.ValueKind == JsonValueKind.Object)
        {
            var theirKeys = theirs.EnumerateObject().Select(p => p.Name).ToHashSet();
            foreach (JsonProperty p in ours.EnumerateObject())
            {
                if (!theirs.TryGetProperty(p.Name, out JsonElement t))
                {
                    problems.Add($"{path}.{p.Name}: not in SPDK's reply");
                    continue;
                }
                // A config entry's params: every name we write must be one SPDK knows.
                Compare(p.Value, t, $"{path}.{p.Name}", problems, keysMayBeSubset || p.Name == "params");
            }
            if (!keysMayBeSubset)
            {
                foreach (string k in theirKeys)
                {
                    if (!ours.TryGetProperty(k, out _) && !MayBeAbsent.Contains(k))
                    {
                        problems.Add($"{path}.{k}: missing from ours");
                    }
                }
            }
        }
        else if (ours.ValueKind == JsonValueKind.Array && theirs.GetArrayLength() > 0)
        {
            int i = 0;
            foreach (JsonElement o in ours.EnumerateArray())
            {
                // A config entry SPDK's recorded run did not have: nothing to compare with.
                if (Counterpart(o, theirs) is { } t)
                {
                    Compare(o, t, $"{path}[{i}]", problems, keysMayBeSubset);
                }
                i++;
            }
        }
    }

    private static JsonElement? Counterpart(JsonElement o, JsonElement theirs)
    {
        if (o.ValueKind == JsonValueKind.Object && o.TryGetProperty("method", out JsonElement m))
        {
            foreach (JsonElement t in theirs.EnumerateArray())
            {
                if (t.ValueKind == JsonValueKind.Object && t.TryGetProperty("method", out JsonElement tm) &&
                    tm.ValueEquals(m.GetString()))
                {
                    return t;
                }
            }
            return null;
        }
        // NVMe-oF subsystems: the discovery one has fewer keys than the others.
        if (o.ValueKind == JsonValueKind.Object && o.TryGetProperty("nqn", out JsonElement nqn))
        {
            foreach (JsonElement t in theirs.EnumerateArray())
            {
                if (t.ValueKind == JsonValueKind.Object && t.TryGetProperty("nqn", out JsonElement tn) &&
                    tn.ValueEquals(nqn.GetString()))
                {
                    return t;
                }
            }
        }
        return theirs[0];
    }

    private static JsonValueKind Kind(JsonElement e) =>
        e.ValueKind == JsonValueKind.False ? JsonValueKind.True : e.ValueKind;
}
