using System;
using System.Runtime.CompilerServices;

namespace NativeBdev.Env;

/// <summary>The execution context the calling OS thread acts for, as a small dense index for
/// per-context caches: mempools keep one cache per context, as DPDK's keep one per lcore
/// (rte_lcore_id). Env knows no threads: the layer that runs them (runtime/Reactor) installs
/// where the index comes from and reports each index it retires, so that a gone context's
/// caches go back to their pools before its index is used again.</summary>
internal static unsafe class ContextIndex
{
    /// <summary>Indices are 0 .. Max - 1.</summary>
    public const int Max = 1024;

    private static delegate*<int> s_current;

    /// <summary>Called with an index whose context is gone, before the index is reused.</summary>
    public static event Action<int>? Retired;

    /// <summary>Sets where <see cref="Current"/> comes from (idempotent; before any context
    /// exists none is current, so the source is needed only from the first one on).</summary>
    public static void Install(delegate*<int> current) => s_current = current;

    /// <summary>The calling OS thread's context, or -1 when it acts for none.</summary>
    public static int Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            delegate*<int> source = s_current;
            return source == null ? -1 : source();
        }
    }

    public static void Retire(int index) => Retired?.Invoke(index);
}
