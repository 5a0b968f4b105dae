using System.Diagnostics;

namespace NativeBdev.Env;

/// <summary>The runtime's clock (SPDK's spdk_get_ticks / spdk_get_ticks_hz): the monotonic
/// clock behind Stopwatch, nanoseconds on Linux.</summary>
internal static class Ticks
{
    public static long Now => Stopwatch.GetTimestamp();
    public static long Hz => Stopwatch.Frequency;
    public static long FromMicroseconds(long us) => us * Hz / 1_000_000;
    public static double ToMicroseconds(long ticks) => ticks * 1_000_000.0 / Hz;
}
