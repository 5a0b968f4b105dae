using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Fault injection: inject:// rules on any bdev, and the error bdev's injections.</summary>
internal static unsafe class FaultExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_fault_inject", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbFaultInject(byte* uri) => NbFaultInjectGuarded(uri);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbFaultInjectGuarded(byte* uri)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? u = Guard.String(uri, "uri", out int rc);
            if (rc != 0)
            {
                return rc;
            }
            return u == null ? Guard.Null("uri") : FaultRegistry.Add(u);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_fault_remove", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbFaultRemove(int id) => NbFaultRemoveGuarded(id);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbFaultRemoveGuarded(int id)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return FaultRegistry.Remove(id);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_fault_clear", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbFaultClear(byte* name) => NbFaultClearGuarded(name);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbFaultClearGuarded(byte* name)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? n = Guard.String(name, "bdev_name", out int rc);
            return rc != 0 ? rc : FaultRegistry.Clear(n);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_fault_list", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbFaultList(NbFaultRuleInfo* rules, int max) => NbFaultListGuarded(rules, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbFaultListGuarded(NbFaultRuleInfo* rules, int max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return List(rules, max);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int List(NbFaultRuleInfo* rules, int max)
    {
        if (max < 0)
        {
            return LastError.Set(Errno.EINVAL, $"max {max} is negative");
        }
        if (rules == null && max > 0)
        {
            return Guard.Null("rules");
        }
        var all = FaultRegistry.Snapshot();
        for (int i = 0; i < Math.Min(max, all.Length); i++)
        {
            NbFaultRuleInfo* r = &rules[i];
            *r = default;
            r->Id = all[i].Rule.Id;
            r->Matched = (ulong)all[i].Rule.Matched;
            r->Fired = (ulong)all[i].Rule.Fired;
            Guard.CopyOut(all[i].Bdev, r->Bdev, 256);
            Guard.CopyOut(all[i].Rule.Uri, r->Uri, 512);
        }
        return all.Length;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_error_inject", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevErrorInject(byte* name, int ioType, int errorType, uint count)
        => NbBdevErrorInjectGuarded(name, ioType, errorType, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevErrorInjectGuarded(byte* name, int ioType, int errorType, uint count)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? n = Guard.String(name, "name", out int rc);
            if (rc != 0)
            {
                return rc;
            }
            if (n == null)
            {
                return Guard.Null("name");
            }
            IErrorBdevInjector? injector = BdevModules.Find<IErrorBdevInjector>();
            return injector == null
                ? LastError.Set(Errno.ENOTSUP, "no bdev module injects errors (the error module is not registered)")
                : injector.Inject(n, ioType, errorType, count);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
