using System;
using NativeBdev.Interop;

namespace NativeBdev.Env;

/// <summary>The process-wide environment: options, the DMA pool, start-up time. One at a
/// time; init after fini starts a fresh one.</summary>
internal static class NbEnvironment
{
    private static readonly object s_lock = new();
    private static DmaPool? s_dma;
    private static EnvOptions? s_options;

    public static bool IsInitialized => s_dma != null;
    public static DmaPool? Dma => s_dma;
    public static EnvOptions? Options => s_options;
    public static long InitTicks { get; private set; }

    public static int Init(EnvOptions options)
    {
        lock (s_lock)
        {
            if (s_dma != null)
            {
                return LastError.Set(Errno.EALREADY, "environment is already initialized (call nb_env_fini first)");
            }
            long t0 = Ticks.Now;
            int rc = DmaPool.Create(options.DmaPoolSize, options.HugePages, options.DmaPoolMaxSize, options.IovaMode,
                out DmaPool? pool);
            if (rc != 0)
            {
                return rc;
            }
            s_options = options;
            s_dma = pool;
            InitTicks = Ticks.Now - t0;
            Log.Info($"environment '{options.Name}' ready: DMA pool {pool!.TotalSize >> 20} MiB " +
                     $"({(pool.HugePages ? "hugepages" : "4 KiB pages")}, " +
                     $"{(pool.Pinned ? "pinned" : "not pinned")}), " +
                     $"cores {options.CoreMask}");
            return 0;
        }
    }

    /// <summary>Whether the environment could end now: 0, or why not (not initialized,
    /// mempools still alive, DMA buffers still allocated). What runs on top of it (reactors,
    /// threads, bdevs) is the layers above's to check first: front ends end the core through
    /// Bdev.BdevLayer.Fini.</summary>
    public static int CheckIdle()
    {
        lock (s_lock)
        {
            return CheckIdleLocked();
        }
    }

    private static int CheckIdleLocked()
    {
        if (s_dma == null)
        {
            return LastError.Set(Errno.EINVAL, "environment is not initialized");
        }
        int mempools = Mempool.LiveCount;
        if (mempools > 0)
        {
            return LastError.Set(Errno.EBUSY, $"{mempools} mempools are still alive (free them first)");
        }
        // Unmapping buffers the host still holds would turn its next access into SIGSEGV:
        // refuse, as for bdevs and threads (SPDK's env keeps memory mapped while it is in use).
        int buffers = s_dma.AllocationCount;
        if (buffers > 0)
        {
            return LastError.Set(Errno.EBUSY,
                $"{buffers} DMA buffers ({s_dma.UsedSize} bytes) are still allocated (nb_dma_free them first)");
        }
        return 0;
    }

    /// <summary>Tears the environment down (refused as <see cref="CheckIdle"/> says, also
    /// while DMA buffers are allocated).</summary>
    public static int Fini()
    {
        lock (s_lock)
        {
            int rc = CheckIdleLocked();
            if (rc != 0)
            {
                return rc;
            }
            s_dma!.Dispose();
            s_dma = null;
            s_options = null;
            return 0;
        }
    }

    /// <summary>The error every call that needs an environment returns without one.</summary>
    public static int NotInitialized() =>
        LastError.Set(Errno.EPERM, "environment is not initialized (call nb_env_init first)");
}
