using System.Diagnostics;
using System.Text.RegularExpressions;
using NativeBdev.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Blob;

/// <summary>The lvol store images SPDK v25.09 made (fixtures/lvs): each decompressed once per test
/// process with <c>xz -dc</c> into a temporary file (the fixtures directory is never written), and
/// the MANIFEST's SHA-256 per volume.</summary>
internal static class LvsFixtures
{
    private static readonly Dictionary<string, byte[]> Images = [];
    private static readonly Lock Gate = new();

    public static string Dir => Path.Combine(Fixtures.Directory(), "lvs");

    public static bool Has(string image) => File.Exists(Path.Combine(Dir, image + ".xz"));

    public static byte[] Image(string image)
    {
        lock (Gate)
        {
            if (!Images.TryGetValue(image, out byte[]? bytes))
            {
                string tmp = Path.Combine(Path.GetTempPath(), $"nb-lvs-{Environment.ProcessId}-{image}");
                try
                {
                    string xz = Path.Combine(Dir, image + ".xz");
                    var psi = new ProcessStartInfo("sh", ["-c", "xz -dc \"$0\" > \"$1\"", xz, tmp])
                    {
                        UseShellExecute = false,
                    };
                    using Process p = Process.Start(psi)!;
                    if (!p.WaitForExit(60_000) || p.ExitCode != 0)
                    {
                        throw new InvalidOperationException($"xz -dc {image}.xz failed");
                    }
                    bytes = File.ReadAllBytes(tmp);
                }
                finally
                {
                    File.Delete(tmp);
                }
                Images[image] = bytes;
            }
            return bytes;
        }
    }

    /// <summary>(image, volume) → sha256 hex, from the MANIFEST's "IMAGE.img (" sections.</summary>
    public static Dictionary<(string Image, string Volume), string> ManifestSha256()
    {
        var result = new Dictionary<(string, string), string>();
        string image = "";
        foreach (string line in File.ReadAllLines(Path.Combine(Dir, "MANIFEST")))
        {
            Match head = Regex.Match(line, @"^(\S+\.img) \(");
            if (head.Success)
            {
                image = head.Groups[1].Value;
                continue;
            }
            Match vol = Regex.Match(line, @"^\s+(\S+)\s.*sha256 ([0-9a-f]{64})");
            if (vol.Success && image.Length > 0)
            {
                result[(image, vol.Groups[1].Value)] = vol.Groups[2].Value;
            }
        }
        return result;
    }

    /// <summary>(image, volume) → size in MiB, from the MANIFEST lines "  NAME  N MiB ...".</summary>
    public static Dictionary<(string Image, string Volume), long> ManifestSizesMiB()
    {
        var result = new Dictionary<(string, string), long>();
        string image = "";
        foreach (string line in File.ReadAllLines(Path.Combine(Dir, "MANIFEST")))
        {
            Match head = Regex.Match(line, @"^(\S+\.img) \(");
            if (head.Success)
            {
                image = head.Groups[1].Value;
                continue;
            }
            Match vol = Regex.Match(line, @"^\s+(\S+)\s+(\d+) MiB .*sha256");
            if (vol.Success && image.Length > 0)
            {
                result[(image, vol.Groups[1].Value)] = long.Parse(vol.Groups[2].Value);
            }
        }
        return result;
    }

    /// <summary>A volume's content through its cluster map: its own clusters, its snapshot's where it has
    /// none, zeros where no volume of the chain has the cluster.</summary>
    public static byte[] ReadVolume(LvolStoreImage lvs, LvolImage lv, byte[] image)
    {
        long clusterSize = lvs.Store.Super.ClusterSize;
        var data = new byte[(long)lv.SizeBytes];
        for (long i = 0; i < lv.Blob.Clusters.Length; i++)
        {
            uint c = lvs.Store.ResolveCluster(lv.Blob, i);
            if (c != 0)
            {
                image.AsSpan((int)(c * clusterSize), (int)clusterSize).CopyTo(data.AsSpan((int)(i * clusterSize)));
            }
        }
        return data;
    }

    /// <summary>pattern.py: each 512-byte sector reads "NAME seed SEED sector N " repeated.</summary>
    public static byte[] Pattern(string name, int seed, int bytes)
    {
        var data = new byte[bytes];
        for (int n = 0; n < bytes / 512; n++)
        {
            byte[] unit = System.Text.Encoding.ASCII.GetBytes($"{name} seed {seed} sector {n} ");
            for (int k = 0; k < 512; k++)
            {
                data[(n * 512) + k] = unit[k % unit.Length];
            }
        }
        return data;
    }

    public static LvolStoreImage Load(string image)
    {
        int rc = LvolStoreImage.Load(new BlobByteDevice(Image(image)), out LvolStoreImage? lvs, out string error);
        if (rc != 0)
        {
            throw new InvalidOperationException($"{image}: {rc} {error}");
        }
        return lvs!;
    }
}
