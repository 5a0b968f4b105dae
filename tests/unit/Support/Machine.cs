namespace NativeBdev.Tests.Support;

/// <summary>What the machine offers: root, hugepage reservations.</summary>
internal static class Machine
{
    public const string NrHugePages = "/proc/sys/vm/nr_hugepages";
    public const string NrOvercommitHugePages = "/proc/sys/vm/nr_overcommit_hugepages";

    public static bool IsRoot =>
        File.ReadLines("/proc/self/status").Any(l => l.StartsWith("Uid:") && l.Split('\t')[1] == "0");

    public static long ReadLong(string path) => long.Parse(File.ReadAllText(path).Trim());

    public static void WriteLong(string path, long value) => File.WriteAllText(path, value + "\n");

    /// <summary>HugePages_Free from /proc/meminfo: 2 MiB pages nobody holds.</summary>
    public static long FreeHugePages =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("HugePages_Free:"))
            .Split(':')[1].Trim());
}
