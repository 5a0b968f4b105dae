using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

internal static unsafe class ReactorExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_reactors_start", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbReactorsStart(byte* coreMask) => NbReactorsStartGuarded(coreMask);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbReactorsStartGuarded(byte* coreMask)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Start(coreMask);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Start(byte* coreMask)
    {
        EnvOptions? options = NbEnvironment.Options;
        if (options == null)
        {
            return NbEnvironment.NotInitialized();
        }
        string? m = Guard.String(coreMask, "core_mask", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        CpuSet cores = options.CoreMask;
        if (m != null && (rc = CpuSet.TryParse(m, out cores)) != 0)
        {
            return rc;
        }
        return ReactorSet.Start(cores, options.ReactorSpinMicroseconds);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_reactors_stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbReactorsStop() => NbReactorsStopGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbReactorsStopGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return ReactorSet.Stop();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_reactor_count", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbReactorCount() => NbReactorCountGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbReactorCountGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return ReactorSet.Reactors.Length;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_reactor_get_cores", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbReactorGetCores(uint* cores, int max) => NbReactorGetCoresGuarded(cores, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbReactorGetCoresGuarded(uint* cores, int max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (cores == null)
            {
                return Guard.Null("cores");
            }
            Reactor.Reactor[] reactors = ReactorSet.Reactors;
            int n = Math.Min(Math.Max(max, 0), reactors.Length);
            for (int i = 0; i < n; i++)
            {
                cores[i] = (uint)reactors[i].Core;
            }
            return n;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
