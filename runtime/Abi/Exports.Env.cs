using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>The environment: options, init (<see cref="BdevLayer.Init"/>), fini, information.</summary>
internal static unsafe class EnvExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_env_opts_init", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbEnvOptsInit(NbEnvOpts* opts, nuint size) => NbEnvOptsInitGuarded(opts, size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbEnvOptsInitGuarded(NbEnvOpts* opts, nuint size)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return OptsInit(opts, size);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static int OptsInit(NbEnvOpts* opts, nuint size)
    {
        if (opts == null)
        {
            return Guard.Null("opts");
        }
        if (size < (nuint)sizeof(nuint) || size > 65536)
        {
            return LastError.Set(Errno.EINVAL,
                $"opts_size {size} is not a struct size (pass sizeof(struct nb_env_opts))");
        }
        NbEnvOpts d = Defaults();
        d.OptsSize = (nuint)Math.Min((long)size, sizeof(NbEnvOpts));
        Buffer.MemoryCopy(&d, opts, (long)d.OptsSize, (long)d.OptsSize);
        return 0;
    }

    private static NbEnvOpts Defaults() => new()
    {
        OptsSize = (nuint)sizeof(NbEnvOpts),
        DmaPoolSize = 16UL << 20,
        DmaPoolMaxSize = 1UL << 30,
        HugePages = 0,
        IovaMode = 0,
        LogLevel = (int)Env.LogLevel.Notice,
        ReactorSpinUs = 1000,
        ThreadMsgRingSize = LightweightThread.DefaultMessageCapacity,
    };

    [UnmanagedCallersOnly(EntryPoint = "nbm_env_init", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbEnvInit(NbEnvOpts* opts) => NbEnvInitGuarded(opts);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbEnvInitGuarded(NbEnvOpts* opts)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Init(opts);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static int Init(NbEnvOpts* user)
    {
        NbEnvOpts o = Defaults();
        if (user != null)
        {
            nuint size = user->OptsSize;
            if (size < (nuint)sizeof(nuint) || size > 4096)
            {
                return LastError.Set(Errno.EINVAL,
                    $"opts->opts_size {size} is not a struct size (call nb_env_opts_init first)");
            }
            Buffer.MemoryCopy(user, &o, sizeof(NbEnvOpts), (long)Math.Min((long)size, sizeof(NbEnvOpts)));
        }
        var options = new EnvOptions();
        int rc;
        string? name = Guard.String(o.Name, "opts->name", out rc);
        if (rc != 0)
        {
            return rc;
        }
        options.Name = name ?? options.Name;
        string? mask = Guard.String(o.CoreMask, "opts->core_mask", out rc);
        if (rc != 0)
        {
            return rc;
        }
        if (mask != null)
        {
            if ((rc = CpuSet.TryParse(mask, out CpuSet cores)) != 0)
            {
                return rc;
            }
            options.CoreMask = cores;
        }
        if (o.DmaPoolSize == 0 || o.DmaPoolSize > (1UL << 40))
        {
            return LastError.Set(Errno.EINVAL, $"opts->dma_pool_size {o.DmaPoolSize} must be 1 .. 1 TiB");
        }
        if (o.DmaPoolMaxSize < o.DmaPoolSize || o.DmaPoolMaxSize > (1UL << 40))
        {
            return LastError.Set(Errno.EINVAL,
                $"opts->dma_pool_max_size {o.DmaPoolMaxSize} must be at least dma_pool_size and at most 1 TiB");
        }
        options.DmaPoolSize = (long)o.DmaPoolSize;
        options.DmaPoolMaxSize = (long)o.DmaPoolMaxSize;
        options.HugePages = o.HugePages switch { 0 => -1, 1 => 1, 2 => 0, _ => int.MinValue };
        if (options.HugePages == int.MinValue)
        {
            return LastError.Set(Errno.EINVAL, $"opts->hugepages {o.HugePages} is not AUTO (0), ON (1) or OFF (2)");
        }
        if (o.IovaMode is not (0 or 1))
        {
            return LastError.Set(Errno.EINVAL, $"opts->iova_mode {o.IovaMode} is not VA (0) or PA (1)");
        }
        options.IovaMode = (IovaMode)o.IovaMode;
        if (o.LogLevel < (int)Env.LogLevel.Error || o.LogLevel > (int)Env.LogLevel.Debug)
        {
            return LastError.Set(Errno.EINVAL, $"opts->log_level {o.LogLevel} is out of range (0 error .. 4 debug)");
        }
        if (o.ReactorSpinUs < -1)
        {
            return LastError.Set(Errno.EINVAL, $"opts->reactor_spin_us {o.ReactorSpinUs} must be -1 or more");
        }
        options.ReactorSpinMicroseconds = o.ReactorSpinUs;
        uint ring = o.ThreadMsgRingSize == 0 ? LightweightThread.DefaultMessageCapacity : o.ThreadMsgRingSize;
        if (ring < LightweightThread.MinMessageCapacity || ring > LightweightThread.MaxMessageCapacity ||
            (ring & (ring - 1)) != 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"opts->thread_msg_ring_size {ring} must be a power of two from " +
                $"{LightweightThread.MinMessageCapacity} to {LightweightThread.MaxMessageCapacity}");
        }
        options.ThreadMessageRingSize = (int)ring;
        return BdevLayer.Init(options, (Env.LogLevel)o.LogLevel);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_env_fini", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbEnvFini() => NbEnvFiniGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbEnvFiniGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = BdevLayer.Fini();
            if (rc == 0)
            {
                Rpc.RpcHostMethods.Clear(); // the host's methods end with the environment
            }
            return rc;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_env_get_info", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbEnvGetInfo(NbEnvInfo* info) => NbEnvGetInfoGuarded(info);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbEnvGetInfoGuarded(NbEnvInfo* info)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return GetInfo(info);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetInfo(NbEnvInfo* info)
    {
        if (info == null)
        {
            return Guard.Null("info");
        }
        nuint size = info->InfoSize;
        if (Guard.CheckStructSize(size, "info->info_size", "nb_env_info", 4096) is int rc0 && rc0 != 0)
        {
            return rc0;
        }
        DmaPool? dma = NbEnvironment.Dma;
        EnvOptions? options = NbEnvironment.Options;
        if (dma == null || options == null)
        {
            return NbEnvironment.NotInitialized();
        }
        var v = new NbEnvInfo
        {
            InfoSize = (nuint)Math.Min((long)size, sizeof(NbEnvInfo)),
            DmaPoolSize = (ulong)dma.TotalSize,
            DmaPoolUsed = (ulong)dma.UsedSize,
            HugePages = dma.HugePages ? 1 : 0,
            Pinned = dma.Pinned ? 1 : 0,
            IovaMode = (int)dma.IovaMode,
            CoreCount = (uint)options.CoreMask.Count,
            InitNs = (ulong)(NbEnvironment.InitTicks * 1_000_000_000 / Ticks.Hz),
        };
        Buffer.MemoryCopy(&v, info, (long)size, (long)v.InfoSize);
        return 0;
    }
}
