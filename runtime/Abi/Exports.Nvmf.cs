using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Targets.Nvmf;

namespace NativeBdev.Abi;

/// <summary>The NVMe/TCP target: argument checks, then <see cref="NvmfService"/> and
/// <see cref="NvmfTarget"/> (which check that they run on the target's thread).</summary>
internal static unsafe class NvmfExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_target_opts_init", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfTargetOptsInit(NbNvmfTargetOpts* opts, nuint size) => OptsInitGuarded(opts, size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int OptsInitGuarded(NbNvmfTargetOpts* opts, nuint size)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (opts == null)
            {
                return Guard.Null("opts");
            }
            int rc = Guard.CheckStructSize(size, "opts_size", "nb_nvmf_target_opts");
            if (rc != 0)
            {
                return rc;
            }
            var o = new NvmfTransportOptions();
            NbNvmfTargetOpts d = new()
            {
                OptsSize = (nuint)Math.Min((long)size, sizeof(NbNvmfTargetOpts)),
                MaxQueueDepth = (uint)o.MaxQueueDepth,
                MaxAqDepth = (uint)o.MaxAdminQueueDepth,
                MaxQpairsPerCtrlr = (uint)o.MaxQpairsPerController,
                InCapsuleDataSize = (uint)o.InCapsuleDataSize,
                MaxIoSize = (uint)o.MaxIoSize,
                BufferSize = (uint)o.BufferBytes,
                C2HSuccess = 1,
                DigestsAllowed = 1,
            };
            Buffer.MemoryCopy(&d, opts, (long)d.OptsSize, (long)d.OptsSize);
            return 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_target_start", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfTargetStart(NbNvmfTargetOpts* opts) => StartGuarded(opts);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int StartGuarded(NbNvmfTargetOpts* opts)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (NbEnvironment.Options == null)
            {
                return NbEnvironment.NotInitialized();
            }
            NvmfTransportOptions? o = null;
            if (opts != null)
            {
                int rc = Guard.CheckStructSize(opts->OptsSize, "opts_size", "nb_nvmf_target_opts");
                if (rc != 0)
                {
                    return rc;
                }
                NbNvmfTargetOpts c = default;
                Buffer.MemoryCopy(opts, &c, sizeof(NbNvmfTargetOpts),
                    (long)Math.Min((ulong)opts->OptsSize, (ulong)sizeof(NbNvmfTargetOpts)));
                var d = new NvmfTransportOptions();
                o = new NvmfTransportOptions
                {
                    MaxQueueDepth = OrDefault(c.MaxQueueDepth, d.MaxQueueDepth),
                    MaxAdminQueueDepth = OrDefault(c.MaxAqDepth, d.MaxAdminQueueDepth),
                    MaxQpairsPerController = OrDefault(c.MaxQpairsPerCtrlr, d.MaxQpairsPerController),
                    InCapsuleDataSize = (int)Math.Min(c.InCapsuleDataSize, int.MaxValue),
                    MaxIoSize = OrDefault(c.MaxIoSize, d.MaxIoSize),
                    BufferBytes = OrDefault(c.BufferSize, d.BufferBytes),
                    C2HSuccess = c.C2HSuccess != 0,
                    DigestsAllowed = c.DigestsAllowed != 0,
                };
            }
            return NvmfService.Start(o);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int OrDefault(uint value, int fallback) =>
        value == 0 ? fallback : (int)Math.Min(value, int.MaxValue);

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_target_stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfTargetStop() => StopGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int StopGuarded()
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : NvmfService.Stop();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_target_connection_count", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfTargetConnectionCount() => ConnectionCountGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ConnectionCountGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = NvmfService.Get(out NvmfTarget? t);
            return rc != 0 ? rc : t!.ConnectionCount;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    /// <summary>The target and the subsystem NQN every subsystem call starts with.</summary>
    private static int Begin(byte* nqn, out NvmfTarget? target, out string? subnqn)
    {
        subnqn = null;
        int rc = NvmfService.Get(out target);
        if (rc != 0)
        {
            return rc;
        }
        if (nqn == null)
        {
            return Guard.Null("nqn");
        }
        subnqn = Guard.String(nqn, "nqn", out rc);
        return rc;
    }

    private static int Required(byte* p, string what, out string? s)
    {
        s = null;
        if (p == null)
        {
            return Guard.Null(what);
        }
        s = Guard.String(p, what, out int rc);
        return rc;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemCreate(byte* nqn, byte* serial, byte* model, uint maxNamespaces,
        int allowAnyHost) => CreateGuarded(nqn, serial, model, maxNamespaces, allowAnyHost);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CreateGuarded(byte* nqn, byte* serial, byte* model, uint maxNamespaces, int allowAnyHost)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Begin(nqn, out NvmfTarget? t, out string? n);
            if (rc != 0)
            {
                return rc;
            }
            string? sn = Guard.String(serial, "serial", out rc);
            if (rc != 0)
            {
                return rc;
            }
            string? mn = Guard.String(model, "model", out rc);
            if (rc != 0)
            {
                return rc;
            }
            if (maxNamespaces > 1024)
            {
                return LastError.Set(Errno.EINVAL, $"max_namespaces {maxNamespaces} (at most 1024)");
            }
            return t!.CreateSubsystem(n!, sn, mn, (int)maxNamespaces, 0, 0, allowAnyHost != 0);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_delete", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemDelete(byte* nqn) => DeleteGuarded(nqn);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int DeleteGuarded(byte* nqn)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Begin(nqn, out NvmfTarget? t, out string? n);
            return rc != 0 ? rc : t!.DeleteSubsystem(n);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_add_ns", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemAddNs(byte* nqn, byte* bdevName, uint nsid, byte* uuid) =>
        AddNsGuarded(nqn, bdevName, nsid, uuid);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AddNsGuarded(byte* nqn, byte* bdevName, uint nsid, byte* uuid)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Begin(nqn, out NvmfTarget? t, out string? n);
            if (rc != 0)
            {
                return rc;
            }
            rc = Required(bdevName, "bdev_name", out string? b);
            if (rc != 0)
            {
                return rc;
            }
            Guid id = uuid == null ? Guid.Empty : new Guid(new ReadOnlySpan<byte>(uuid, 16), bigEndian: true);
            return t!.AddNamespace(n, b, nsid, id, null, 0);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_remove_ns", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemRemoveNs(byte* nqn, uint nsid) => RemoveNsGuarded(nqn, nsid);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RemoveNsGuarded(byte* nqn, uint nsid)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Begin(nqn, out NvmfTarget? t, out string? n);
            return rc != 0 ? rc : t!.RemoveNamespace(n, nsid);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_add_host", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemAddHost(byte* nqn, byte* host) => AddHostGuarded(nqn, host);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AddHostGuarded(byte* nqn, byte* host)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Host(nqn, host, add: true);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_remove_host", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemRemoveHost(byte* nqn, byte* host) => RemoveHostGuarded(nqn, host);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RemoveHostGuarded(byte* nqn, byte* host)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Host(nqn, host, add: false);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int Host(byte* nqn, byte* host, bool add)
    {
        int rc = Begin(nqn, out NvmfTarget? t, out string? n);
        if (rc != 0)
        {
            return rc;
        }
        rc = Required(host, "host_nqn", out string? h);
        return rc != 0 ? rc : add ? t!.AddHost(n, h) : t!.RemoveHost(n, h);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_allow_any_host", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemAllowAnyHost(byte* nqn, int allow) => AllowAnyHostGuarded(nqn, allow);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AllowAnyHostGuarded(byte* nqn, int allow)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Begin(nqn, out NvmfTarget? t, out string? n);
            return rc != 0 ? rc : t!.SetAllowAnyHost(n, allow != 0);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_add_listener", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemAddListener(byte* nqn, byte* traddr, byte* trsvcid) =>
        AddListenerGuarded(nqn, traddr, trsvcid);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AddListenerGuarded(byte* nqn, byte* traddr, byte* trsvcid)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Listener(nqn, traddr, trsvcid, add: true);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvmf_subsystem_remove_listener", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNvmfSubsystemRemoveListener(byte* nqn, byte* traddr, byte* trsvcid) =>
        RemoveListenerGuarded(nqn, traddr, trsvcid);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RemoveListenerGuarded(byte* nqn, byte* traddr, byte* trsvcid)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Listener(nqn, traddr, trsvcid, add: false);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int Listener(byte* nqn, byte* traddr, byte* trsvcid, bool add)
    {
        int rc = Begin(nqn, out NvmfTarget? t, out string? n);
        if (rc != 0)
        {
            return rc;
        }
        rc = Required(traddr, "traddr", out string? a);
        if (rc != 0)
        {
            return rc;
        }
        rc = Required(trsvcid, "trsvcid", out string? p);
        return rc != 0 ? rc : add ? t!.AddListener(n, a, p) : t!.RemoveListener(n, a, p);
    }
}
