using System;
using System.Globalization;
using System.IO;

namespace NativeBdev.Interop;

/// <summary>The running kernel's version (/proc/sys/kernel/osrelease, what uname -r prints),
/// for features that have no probe of their own that is free of side effects.</summary>
internal static class KernelVersion
{
    private static readonly Lazy<(int Major, int Minor)> s_running = new(Read);

    public static (int Major, int Minor) Running => s_running.Value;

    public static bool AtLeast(int major, int minor) =>
        Running.Major > major || (Running.Major == major && Running.Minor >= minor);

    /// <summary>"6.18.44-fc-v1252" -> (6, 18); (0, 0) for anything else (no feature claimed).</summary>
    public static (int Major, int Minor) Parse(string release)
    {
        string[] parts = release.Trim().Split('.', 3);
        if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major))
        {
            return (0, 0);
        }
        int n = 0;
        while (n < parts[1].Length && char.IsAsciiDigit(parts[1][n]))
        {
            n++;
        }
        return n > 0 && int.TryParse(parts[1].AsSpan(0, n), NumberStyles.None, CultureInfo.InvariantCulture,
            out int minor) ? (major, minor) : (0, 0);
    }

    private static (int, int) Read()
    {
        try
        {
            return Parse(File.ReadAllText("/proc/sys/kernel/osrelease"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (0, 0);
        }
    }
}
