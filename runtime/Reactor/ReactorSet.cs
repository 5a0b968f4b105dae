using System;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Reactor;

/// <summary>Managed mode: the set of running reactors, and the placement of lightweight
/// threads on them (the least loaded reactor within the thread's core mask).</summary>
internal static class ReactorSet
{
    private static readonly object s_lock = new();
    private static Reactor[] s_reactors = Array.Empty<Reactor>();

    public static bool Running => Volatile.Read(ref s_reactors).Length > 0;

    public static Reactor[] Reactors => Volatile.Read(ref s_reactors);

    /// <summary>Long-running tasks may ask whether they run on a reactor (where blocking is
    /// forbidden).</summary>
    public static bool OnReactor
    {
        get
        {
            foreach (Reactor r in Reactors)
            {
                if (r.IsCurrentOsThread)
                {
                    return true;
                }
            }
            return false;
        }
    }

    public static int Start(CpuSet cores, long spinMicroseconds)
    {
        lock (s_lock)
        {
            if (s_reactors.Length > 0)
            {
                return LastError.Set(Errno.EALREADY, "reactors are already running");
            }
            CpuSet available = CpuSet.Available();
            int[] cpus = cores.ToArray();
            foreach (int cpu in cpus)
            {
                if (!available[cpu])
                {
                    return LastError.Set(Errno.EINVAL,
                        $"core {cpu} is not available to this process (available: {available})");
                }
            }
            var reactors = new Reactor[cpus.Length];
            for (int i = 0; i < cpus.Length; i++)
            {
                reactors[i] = new Reactor(cpus[i], spinMicroseconds);
                int rc = reactors[i].Start();
                if (rc != 0)
                {
                    for (int j = 0; j <= i; j++)
                    {
                        reactors[j].Stop();
                    }
                    return rc;
                }
            }
            Volatile.Write(ref s_reactors, reactors);
            foreach (LightweightThread t in ThreadRegistry.Snapshot())
            {
                if (!t.IsExited)
                {
                    PlaceLocked(t, reactors);
                }
            }
            return 0;
        }
    }

    public static int Stop()
    {
        lock (s_lock)
        {
            if (s_reactors.Length == 0)
            {
                return LastError.Set(Errno.EALREADY, "reactors are not running");
            }
            if (OnReactor)
            {
                return LastError.Set(Errno.EDEADLK, "nb_reactors_stop cannot be called from a reactor");
            }
            Reactor[] reactors = s_reactors;
            Volatile.Write(ref s_reactors, Array.Empty<Reactor>());
            foreach (Reactor r in reactors)
            {
                r.Stop();
            }
            return 0;
        }
    }

    /// <summary>Places a new thread on a reactor if reactors run; otherwise it stays
    /// host-driven.</summary>
    public static void Schedule(LightweightThread t)
    {
        lock (s_lock)
        {
            if (s_reactors.Length > 0)
            {
                PlaceLocked(t, s_reactors);
            }
        }
    }

    private static void PlaceLocked(LightweightThread t, Reactor[] reactors)
    {
        Reactor? best = null;
        foreach (Reactor r in reactors)
        {
            if (t.CpuMask != null && !t.CpuMask[r.Core])
            {
                continue;
            }
            if (best == null || r.ThreadCount < best.ThreadCount)
            {
                best = r;
            }
        }
        if (best == null)
        {
            Log.Warn($"thread '{t.Name}' wants cores {t.CpuMask} where no reactor runs: it stays host-driven");
            return;
        }
        if (!best.Add(t))
        {
            Log.Error($"reactor {best.Core} has 1024 threads waiting to be adopted: thread '" +
                      $"{t.Name}' stays host-driven");
        }
    }
}
