using System;
using System.Collections.Generic;

namespace NativeBdev.Reactor;

/// <summary>Every live lightweight thread, and the small dense index each one holds for the
/// length of its life (per-thread caches are arrays indexed by it).</summary>
internal static class ThreadRegistry
{
    public const int MaxThreads = 1024;
    private static readonly object s_lock = new();
    private static readonly List<LightweightThread> s_threads = new();
    private static readonly bool[] s_indexUsed = new bool[MaxThreads];

    /// <summary>Live threads by index: how <see cref="LightweightThread.Current"/> turns the
    /// thread-static slot number back into the thread.</summary>
    public static readonly LightweightThread?[] ByIndex = new LightweightThread?[MaxThreads];

    /// <summary>Called with a thread that is being destroyed, before its index is reused
    /// (mempools flush that thread's cache).</summary>
    public static event Action<LightweightThread>? ThreadRemoved;

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
        }
    }

    public static void Remove(LightweightThread t)
    {
        ThreadRemoved?.Invoke(t);
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
