using System.Collections.Generic;
using NativeBdev.Env;

namespace NativeBdev.Reactor;

/// <summary>Every live lightweight thread, and the small dense index each one holds for the
/// length of its life (per-thread caches are arrays indexed by it): the thread is Env's
/// execution context (<see cref="ContextIndex"/>), so Env's mempool caches follow threads.</summary>
internal static class ThreadRegistry
{
    public const int MaxThreads = ContextIndex.Max;
    private static readonly object s_lock = new();
    private static readonly List<LightweightThread> s_threads = new();
    private static readonly bool[] s_indexUsed = new bool[MaxThreads];

    /// <summary>Live threads by index: how <see cref="LightweightThread.Current"/> turns the
    /// thread-static slot number back into the thread.</summary>
    public static readonly LightweightThread?[] ByIndex = new LightweightThread?[MaxThreads];

    public static int ReserveIndex()
    {
        lock (s_lock)
        {
            for (int i = 0; i < MaxThreads; i++)
            {
                if (!s_indexUsed[i])
                {
                    s_indexUsed[i] = true;
                    return i;
                }
            }
        }
        return -1;
    }

    public static void Add(LightweightThread t)
    {
        lock (s_lock)
        {
            s_threads.Add(t);
            System.Threading.Volatile.Write(ref ByIndex[t.Index], t);
            ContextIndex.Register(t.Index, t.Slot);
        }
    }

    public static void Remove(LightweightThread t)
    {
        ContextIndex.Retire(t.Index); // mempools flush the thread's caches before the index is reused
        lock (s_lock)
        {
            s_threads.Remove(t);
            ByIndex[t.Index] = null;
            s_indexUsed[t.Index] = false;
        }
    }

    public static LightweightThread[] Snapshot()
    {
        lock (s_lock)
        {
            return s_threads.ToArray();
        }
    }

    public static int Count
    {
        get
        {
            lock (s_lock)
            {
                return s_threads.Count;
            }
        }
    }
}
