using System;
using System.Diagnostics;
using System.IO;
using NativeBdev.Interop;

namespace NativeBdev.Env;

/// <summary>The runtime's clock (SPDK's spdk_get_ticks / spdk_get_ticks_hz). Reads the CPU's
/// time-stamp counter where the kernel reports it constant and non-stop, as SPDK does:
/// Stopwatch.GetTimestamp goes through clock_gettime and costs 32 ns here against 12 ns for
/// RDTSC, and the I/O path reads the clock per I/O. .NET has no RDTSC intrinsic, so a
/// ten-byte thunk is written to an executable page once and called without a GC transition.
/// Where that is not possible (no invariant TSC, W^X policy), Stopwatch is used.
/// In the library the choice and the calibration are made by runtime/Native/ticks.c when the
/// .so is loaded, and taken from there: nb_get_ticks and nb_get_ticks_hz are C functions (so a
/// signal handler may call them without entering the runtime), and the I/O stamps must be
/// the same clock. The thunk and the calibration below are what the unit tests (JIT, no C
/// half) run.</summary>
internal static unsafe class Ticks
{
    private static readonly long s_nativeHz = NativeClock(out s_rdtsc);
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<long> s_rdtsc;
    private static readonly long s_hz = s_nativeHz != 0 ? s_nativeHz
        : s_rdtsc != null ? Calibrate() : Stopwatch.Frequency;

    public static long Now => s_rdtsc != null ? s_rdtsc() : Stopwatch.GetTimestamp();
    public static long Hz => s_hz;
    public static bool UsesTsc => s_rdtsc != null;
    public static long FromMicroseconds(long us) => (long)((Int128)us * s_hz / 1_000_000);
    public static double ToMicroseconds(long ticks) => ticks * 1_000_000.0 / s_hz;

    /// <summary>The clock ticks.c chose (its rdtsc function, or null for CLOCK_MONOTONIC
    /// nanoseconds, which is Stopwatch's) and its frequency; 0 under JIT, with a clock of
    /// this class's own.</summary>
    private static long NativeClock(out delegate* unmanaged[Cdecl, SuppressGCTransition]<long> rdtsc)
    {
        try
        {
            ulong hz;
            rdtsc = (delegate* unmanaged[Cdecl, SuppressGCTransition]<long>)NbNative.Clock(&hz);
            return (long)hz;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            rdtsc = CreateRdtsc();
            return 0;
        }
    }

    private static delegate* unmanaged[Cdecl, SuppressGCTransition]<long> CreateRdtsc()
    {
        try
        {
            if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported || !InvariantTsc())
            {
                return null;
            }
            byte* page = (byte*)Libc.mmap(null, 4096, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            if ((nint)page == Libc.MAP_FAILED)
            {
                return null;
            }
            // rdtsc; shl rdx, 32; or rax, rdx; ret
            ReadOnlySpan<byte> code = [0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3];
            code.CopyTo(new Span<byte>(page, code.Length));
            if (Libc.mprotect(page, 4096, Libc.PROT_READ | Libc.PROT_EXEC) != 0)
            {
                Libc.munmap(page, 4096);
                return null;
            }
            return (delegate* unmanaged[Cdecl, SuppressGCTransition]<long>)page;
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static bool InvariantTsc()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("flags", StringComparison.Ordinal))
                {
                    return line.Contains(" constant_tsc", StringComparison.Ordinal) &&
                           line.Contains(" nonstop_tsc", StringComparison.Ordinal);
                }
            }
        }
        catch (IOException)
        {
        }
        return false;
    }

    /// <summary>TSC ticks per second, measured against the monotonic clock over 2 ms (the
    /// hypervisor here does not publish the frequency through CPUID).</summary>
    private static long Calibrate()
    {
        s_rdtsc(); // the first call through the pointer is slow under JIT: not inside the window
        long sw0 = Stopwatch.GetTimestamp();
        long tsc0 = s_rdtsc();
        long target = sw0 + Stopwatch.Frequency / 500;
        long sw1;
        while ((sw1 = Stopwatch.GetTimestamp()) < target)
        {
        }
        long tsc1 = s_rdtsc();
        return (long)((Int128)(tsc1 - tsc0) * Stopwatch.Frequency / (sw1 - sw0));
    }
}
