namespace NativeBdev.Tests.Support;

/// <summary>The shared fixtures (real data made by SPDK v25.09, never written to): beside the
/// repository as ../shared/fixtures, or where NB_FIXTURES says, or the workplace's
/// /work/shared/fixtures when the repository is a clone elsewhere (CI clones under /tmp).</summary>
internal static class Fixtures
{
    public static string Directory()
    {
        var candidates = new List<string>();
        string? env = System.Environment.GetEnvironmentVariable("NB_FIXTURES");
        if (!string.IsNullOrEmpty(env))
        {
            candidates.Add(env);
        }
        string dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "NativeBdev.csproj")))
        {
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        }
        candidates.Add(Path.Combine(dir, "..", "shared", "fixtures"));
        candidates.Add("/work/shared/fixtures");
        foreach (string c in candidates)
        {
            if (System.IO.Directory.Exists(Path.Combine(c, "rpc")))
            {
                return c;
            }
        }
        throw new DirectoryNotFoundException(
            "the shared fixtures are not found (looked in: " + string.Join(", ", candidates) + "); set NB_FIXTURES");
    }
}
