using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>The core's start and end, as every front end drives them (nb_env_init and
/// nb_env_fini; a daemon's main): the environment, then the bdev modules (SPDK's
/// module_init); at the end the reverse, refused while anything built on them still runs, so
/// nothing is pulled from under running code. Env knows nothing above itself, so the rules
/// about reactors, threads and bdevs live here.</summary>
internal static class BdevLayer
{
    private static readonly object s_lock = new();

    /// <summary>Starts the environment and the modules. <paramref name="logLevel"/> applies
    /// to init's own messages and stays only if init succeeds: a failed call changes nothing.</summary>
    public static int Init(EnvOptions options, LogLevel? logLevel = null)
    {
        lock (s_lock)
        {
            LogLevel previous = Log.Level;
            if (logLevel is LogLevel level)
            {
                Log.Level = level;
            }
            int rc = NbEnvironment.Init(options);
            if (rc == 0 && (rc = BdevModules.Init()) != 0)
            {
                // Nothing was made on the environment yet (the modules already started are
                // finished): it ends again, and the module's error stays the one reported.
                NbEnvironment.Fini();
            }
            if (rc != 0)
            {
                Log.Level = previous;
            }
            return rc;
        }
    }

    /// <summary>Ends the modules and the environment. Refused (-EBUSY, naming what is left)
    /// while bdevs exist, reactors run or threads are alive, or while Env refuses
    /// (<see cref="NbEnvironment.CheckIdle"/>): all checked before anything ends.</summary>
    public static int Fini()
    {
        lock (s_lock)
        {
            if (NbEnvironment.IsInitialized)
            {
                int rc = CheckIdle();
                if (rc != 0)
                {
                    return rc;
                }
                BdevModules.Fini();
            }
            int fini = NbEnvironment.Fini();
            if (fini == 0)
            {
                // What the environment's objects held is garbage now: collect it and give the
                // GC's free memory back to the OS, so a host that finishes the library gets
                // its memory back (a few ms; fini is not a hot path).
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
            return fini;
        }
    }

    private static int CheckIdle()
    {
        int creations = BdevCreation.InFlight;
        if (creations > 0)
        {
            return LastError.Set(Errno.EBUSY,
                $"{creations} bdev creations are still running (each ends within its timeout_ms)");
        }
        int bdevs = BdevRegistry.Count;
        if (bdevs > 0)
        {
            return LastError.Set(Errno.EBUSY, $"{bdevs} bdevs still exist (destroy them first)");
        }
        if (ReactorSet.Running)
        {
            return LastError.Set(Errno.EBUSY, "reactors are running (call nb_reactors_stop first)");
        }
        int threads = ThreadRegistry.Count;
        if (threads > 0)
        {
            return LastError.Set(Errno.EBUSY, $"{threads} threads are still alive (exit and destroy them first)");
        }
        return NbEnvironment.CheckIdle();
    }
}
