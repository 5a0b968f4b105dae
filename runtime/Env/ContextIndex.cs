using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace NativeBdev.Env;

/// <summary>The execution context the calling OS thread acts for, as a small dense index for
/// per-context caches: mempools keep one cache per context, as DPDK's keep one per lcore
/// (rte_lcore_id, also a thread-local of DPDK's env). Env knows no threads: the layer that runs
/// them (runtime/Reactor, a context per lightweight thread) registers each context's slot,
/// sets <see cref="CurrentSlot"/> while it runs one, and retires the index when the context is
/// gone, so that its caches go back to their pools before the index is used again.</summary>
internal static class ContextIndex
{
    /// <summary>Indices are 0 .. Max - 1.</summary>
    public const int Max = 1024;

    private const int IndexBits = 11; // index + 1 in the low bits of a slot
    private const int IndexMask = (1 << IndexBits) - 1;

    /// <summary>The calling OS thread's context as its slot number, 0 for none. One int in one
    /// thread-static: in a shared library each [ThreadStatic] access is a __tls_get_addr call,
    /// and storing an int (unlike a reference) needs no GC write barrier — a reactor stores it
    /// for every thread it polls, every iteration.</summary>
    [ThreadStatic] public static int CurrentSlot;

    private static int s_created;
    private static readonly int[] s_liveSlots = new int[Max];

    /// <summary>Called with an index whose context is gone, before the index is reused.</summary>
    public static event Action<int>? Retired;

    /// <summary>A slot number for a new context at <paramref name="index"/>:
    /// (creation number &lt;&lt; 11) | (index + 1), unique among live contexts, so a slot left
    /// behind on an OS thread by a gone context does not name its index's next occupant.</summary>
    public static int NewSlot(int index) =>
        ((Interlocked.Increment(ref s_created) & 0xFFFFF) << IndexBits) | (index + 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int IndexOf(int slot) => (slot & IndexMask) - 1;

    /// <summary>The context at <paramref name="index"/> is live, named by <paramref name="slot"/>.</summary>
    public static void Register(int index, int slot) => Volatile.Write(ref s_liveSlots[index], slot);

    /// <summary>The context at <paramref name="index"/> is gone: its caches are flushed
    /// (<see cref="Retired"/>), then the index no longer names it.</summary>
    public static void Retire(int index)
    {
        Retired?.Invoke(index);
        Volatile.Write(ref s_liveSlots[index], 0);
    }

    /// <summary>The calling OS thread's context, or -1 when it acts for none (or for one that
    /// is gone).</summary>
    public static int Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int slot = CurrentSlot;
            if (slot == 0)
            {
                return -1;
            }
            int index = IndexOf(slot);
            return s_liveSlots[index] == slot ? index : -1;
        }
    }
}
