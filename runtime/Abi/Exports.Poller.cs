using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>Pollers on the current thread.</summary>
internal static unsafe class PollerExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_poller_register", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbPollerRegister(delegate* unmanaged[Cdecl]<void*, int> fn, void* ctx, ulong periodUs)
        => NbPollerRegisterGuarded(fn, ctx, periodUs);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbPollerRegisterGuarded(delegate* unmanaged[Cdecl]<void*, int> fn, void* ctx, ulong periodUs)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return RegisterPoller(fn, ctx, periodUs);
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint RegisterPoller(delegate* unmanaged[Cdecl]<void*, int> fn, void* ctx, ulong periodUs)
    {
        if (fn == null)
        {
            Guard.Null("fn");
            return 0;
        }
        LightweightThread? t = LightweightThread.Current;
        if (t == null)
        {
            LastError.Set(Errno.EINVAL,
                "no current thread: register pollers from inside nb_thread_poll or after nb_set_thread");
            return 0;
        }
        long period = periodUs > long.MaxValue ? -1 : (long)periodUs;
        return t.RegisterPoller("poller", period, (nint)fn, (nint)ctx, null, managed: false, out Poller? p) == 0
            ? p!.Handle
            : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_poller_unregister", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbPollerUnregister(nint* poller) => NbPollerUnregisterGuarded(poller);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbPollerUnregisterGuarded(nint* poller)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (poller == null)
            {
                return Guard.Null("poller");
            }
            Poller? p = Guard.Resolve<Poller>(*poller, HandleType.Poller, out int rc);
            if (p == null)
            {
                return rc;
            }
            rc = p.Thread.UnregisterPoller(p);
            if (rc == 0)
            {
                *poller = 0;
            }
            return rc;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_poller_pause", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbPollerPause(nint poller) => NbPollerPauseGuarded(poller);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbPollerPauseGuarded(nint poller)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Poller? p = Guard.Resolve<Poller>(poller, HandleType.Poller, out int rc);
            return p == null ? rc : p.Thread.SetPollerPaused(p, true);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_poller_resume", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbPollerResume(nint poller) => NbPollerResumeGuarded(poller);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbPollerResumeGuarded(nint poller)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Poller? p = Guard.Resolve<Poller>(poller, HandleType.Poller, out int rc);
            return p == null ? rc : p.Thread.SetPollerPaused(p, false);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
