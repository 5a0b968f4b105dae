using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>NVMe passthrough, probe, controller information and reset.</summary>
internal static unsafe class NvmeExports
{
    private static int Passthru(nint desc, nint ch, BdevIoType type, byte* cmd, void* buf, nuint nbytes, nint cb,
        void* arg)
    {
        int rc = BdevIoExports.Resolve(desc, ch, out BdevDesc? d, out BdevChannel? bc);
        if (rc != 0)
        {
            return rc;
        }
        if (cmd == null)
        {
            return Guard.Null("cmd");
        }
        if (cb == 0)
        {
            return LastError.Set(Errno.EINVAL, "completion callback is NULL");
        }
        return bc!.SubmitPassthru(d!, type, cmd, buf, nbytes, cb, (nint)arg);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_nvme_admin_passthru", CallConvs = [typeof(CallConvCdecl)])]
    public static int AdminPassthru(nint desc, nint ch, byte* cmd, void* buf, nuint nbytes, nint cb, void* arg)
        => AdminPassthruGuarded(desc, ch, cmd, buf, nbytes, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AdminPassthruGuarded(nint desc, nint ch, byte* cmd, void* buf, nuint nbytes, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Passthru(desc, ch, BdevIoType.NvmeAdmin, cmd, buf, nbytes, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_nvme_io_passthru", CallConvs = [typeof(CallConvCdecl)])]
    public static int IoPassthru(nint desc, nint ch, byte* cmd, void* buf, nuint nbytes, nint cb, void* arg)
        => IoPassthruGuarded(desc, ch, cmd, buf, nbytes, cb, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int IoPassthruGuarded(nint desc, nint ch, byte* cmd, void* buf, nuint nbytes, nint cb, void* arg)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Passthru(desc, ch, BdevIoType.NvmeIo, cmd, buf, nbytes, cb, arg);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvme_probe", CallConvs = [typeof(CallConvCdecl)])]
    public static int Probe(NbNvmeProbeInfo* infos, int max) => ProbeGuarded(infos, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ProbeGuarded(NbNvmeProbeInfo* infos, int max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return ProbeCore(infos, max);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    // Not inlined: fixed buffers in the first export called abort (TOOLCHAIN pitfall A).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ProbeCore(NbNvmeProbeInfo* infos, int max)
    {
        if (max < 0 || (infos == null && max != 0))
        {
            return LastError.Set(Errno.EINVAL,
                infos == null ? "infos is NULL but max is not 0" : $"max {max} is negative");
        }
        IReadOnlyList<NvmePciDevice> found = BdevModules.Find<INvmePciProbe>()?.Probe() ?? [];
        for (int i = 0; i < found.Count && i < max; i++)
        {
            NvmePciDevice d = found[i];
            NbNvmeProbeInfo v = default;
            Guard.CopyOut(d.Address, v.Traddr, 16);
            Guard.CopyOut(d.Driver, v.Driver, 32);
            v.VendorId = d.VendorId;
            v.DeviceId = d.DeviceId;
            v.Attachable = d.Attachable ? 1 : 0;
            v.Attached = d.Attached ? 1 : 0;
            infos[i] = v;
        }
        return found.Count;
    }

    private static int FindNvmeBdev(byte* name, out INvmeNamespaceBdev? bdev)
    {
        bdev = null;
        string? n = Guard.String(name, "bdev_name", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        if (n == null)
        {
            return Guard.Null("bdev_name");
        }
        Bdev.Bdev? b = BdevRegistry.Find(n);
        if (b == null)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev '{n}'");
        }
        bdev = b as INvmeNamespaceBdev;
        return bdev == null
            ? LastError.Set(Errno.ENOTSUP, $"bdev '{n}' is a {b.ModuleName} bdev, not an NVMe namespace")
            : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvme_ctrlr_get_info", CallConvs = [typeof(CallConvCdecl)])]
    public static int GetInfo(byte* name, NbNvmeCtrlrInfo* info) => GetInfoGuarded(name, info);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetInfoGuarded(byte* name, NbNvmeCtrlrInfo* info)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return GetInfoCore(name, info);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetInfoCore(byte* name, NbNvmeCtrlrInfo* info)
    {
        int rc = FindNvmeBdev(name, out INvmeNamespaceBdev? b);
        if (rc != 0)
        {
            return rc;
        }
        if (info == null)
        {
            return Guard.Null("info");
        }
        nuint size = info->InfoSize;
        if ((rc = Guard.CheckStructSize(size, "info->info_size", "nb_nvme_ctrlr_info")) != 0)
        {
            return rc;
        }
        NvmeControllerSnapshot c = b!.DescribeController();
        NbNvmeCtrlrInfo v = default;
        v.InfoSize = (nuint)Math.Min((long)size, sizeof(NbNvmeCtrlrInfo));
        Guard.CopyOut(c.Address, v.Traddr, 16);
        Guard.CopyOut(c.Mode, v.Mode, 8);
        Guard.CopyOut(c.Model, v.Model, 48);
        Guard.CopyOut(c.Serial, v.Serial, 24);
        Guard.CopyOut(c.Firmware, v.Firmware, 16);
        Guard.CopyOut(c.State, v.State, 16);
        v.Nsid = c.Nsid;
        v.NumNamespaces = c.NamespaceCount;
        v.MaxTransferBytes = c.MaxTransferBytes;
        v.IoQueues = (uint)c.IoQueues;
        v.IoQueueEntries = (uint)c.IoQueueEntries;
        v.Resets = (ulong)c.Resets;
        Buffer.MemoryCopy(&v, info, (long)size, (long)v.InfoSize);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nvme_ctrlr_reset", CallConvs = [typeof(CallConvCdecl)])]
    public static int Reset(byte* name) => ResetGuarded(name);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ResetGuarded(byte* name)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = FindNvmeBdev(name, out INvmeNamespaceBdev? b);
            return rc != 0 ? rc : b!.ResetController("nb_nvme_ctrlr_reset");
        }
        catch (Exception e) { return Guard.Fail(e); }
    }
}
