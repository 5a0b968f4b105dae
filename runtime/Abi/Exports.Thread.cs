using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>Threads and messages.</summary>
internal static unsafe class ThreadExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_create", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbThreadCreate(byte* name, byte* cpumask) => NbThreadCreateGuarded(name, cpumask);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbThreadCreateGuarded(byte* name, byte* cpumask)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return Create(name, cpumask);
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint Create(byte* name, byte* cpumask)
    {
        if (!NbEnvironment.IsInitialized)
        {
            NbEnvironment.NotInitialized();
            return 0;
        }
        string? n = Guard.String(name, "name", out int rc);
        if (rc != 0)
        {
            return 0;
        }
        string? m = Guard.String(cpumask, "cpumask", out rc);
        if (rc != 0)
        {
            return 0;
        }
        CpuSet? mask = null;
        if (m != null && CpuSet.TryParse(m, out mask) != 0)
        {
            return 0;
        }
        return LightweightThread.Create(n, mask, out LightweightThread? t) == 0 ? t!.Handle : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_exit", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbThreadExit(nint thread) => NbThreadExitGuarded(thread);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbThreadExitGuarded(nint thread)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            LightweightThread? t = Guard.Resolve<LightweightThread>(thread, HandleType.Thread, out int rc);
            return t == null ? rc : t.RequestExit();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_is_exited", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbThreadIsExited(nint thread) => NbThreadIsExitedGuarded(thread);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbThreadIsExitedGuarded(nint thread)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            LightweightThread? t = Guard.Resolve<LightweightThread>(thread, HandleType.Thread, out int rc);
            return t == null ? rc : t.IsExited ? 1 : 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_destroy", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbThreadDestroy(nint thread) => NbThreadDestroyGuarded(thread);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbThreadDestroyGuarded(nint thread)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            LightweightThread? t = Guard.Resolve<LightweightThread>(thread, HandleType.Thread, out int rc);
            return t == null ? rc : t.Destroy();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_poll", CallConvs = [typeof(CallConvCdecl)])]
    [HotPathExport]
    public static int NbThreadPoll(nint thread, uint maxMsgs, ulong now)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Poll(thread, maxMsgs, now);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    /// <summary>nb_thread_poll: the host-driven loop's entry (<see cref="LightweightThread.HostPoll"/>).</summary>
    internal static int Poll(nint thread, uint maxMsgs, ulong now)
    {
        LightweightThread? t = HandleTable.Get<LightweightThread>(thread, HandleType.Thread);
        if (t == null)
        {
            return Guard.Bad(thread, HandleType.Thread);
        }
        return t.HostPoll((int)Math.Min(maxMsgs, int.MaxValue), (long)Math.Min(now, long.MaxValue));
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_get_current_thread", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbGetCurrentThread() => NbGetCurrentThreadGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbGetCurrentThreadGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return LightweightThread.Current?.Handle ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_set_thread", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbSetThread(nint thread) => NbSetThreadGuarded(thread);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbSetThreadGuarded(nint thread)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (thread == 0)
            {
                return LightweightThread.Bind(null);
            }
            LightweightThread? t = Guard.Resolve<LightweightThread>(thread, HandleType.Thread, out int rc);
            return t == null ? rc : LightweightThread.Bind(t);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_get_name", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbThreadGetName(nint thread, byte* buf, nuint len) => NbThreadGetNameGuarded(thread, buf, len);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbThreadGetNameGuarded(nint thread, byte* buf, nuint len)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            LightweightThread? t = Guard.Resolve<LightweightThread>(thread, HandleType.Thread, out int rc);
            return t == null ? rc : Guard.CopyOut(t.Name, buf, len);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_send_msg", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbThreadSendMsg(nint thread, delegate* unmanaged[Cdecl]<void*, void> fn, void* ctx)
        => NbThreadSendMsgGuarded(thread, fn, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbThreadSendMsgGuarded(nint thread, delegate* unmanaged[Cdecl]<void*, void> fn, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            LightweightThread? t = HandleTable.Get<LightweightThread>(thread, HandleType.Thread);
            if (t == null)
            {
                return Guard.Bad(thread, HandleType.Thread);
            }
            if (fn == null)
            {
                return Guard.Null("fn");
            }
            return t.Send(Message.Native(fn, ctx));
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_for_each_thread", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbForEachThread(delegate* unmanaged[Cdecl]<void*, void> fn, void* ctx,
        delegate* unmanaged[Cdecl]<void*, void> cpl) => NbForEachThreadGuarded(fn, ctx, cpl);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbForEachThreadGuarded(delegate* unmanaged[Cdecl]<void*, void> fn, void* ctx,
        delegate* unmanaged[Cdecl]<void*, void> cpl)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return ForEachThread(fn, ctx, cpl);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ForEachThread(delegate* unmanaged[Cdecl]<void*, void> fn, void* ctx,
        delegate* unmanaged[Cdecl]<void*, void> cpl)
    {
        if (fn == null)
        {
            return Guard.Null("fn");
        }
        nint f = (nint)fn, c = (nint)cpl, a = (nint)ctx;
        return ThreadIteration.Start(
            () => ((delegate* unmanaged[Cdecl]<void*, void>)f)((void*)a),
            () =>
            {
                if (c != 0)
                {
                    ((delegate* unmanaged[Cdecl]<void*, void>)c)((void*)a);
                }
            });
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_thread_count", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbThreadCount() => NbThreadCountGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbThreadCountGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return ThreadRegistry.Count;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
