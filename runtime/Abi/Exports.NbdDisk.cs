using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nbd.Kernel;

namespace NativeBdev.Abi;

/// <summary>Kernel NBD disks (SPDK's nbd_start_disk/stop/get): argument checks, then the core
/// the RPC methods call (<see cref="NbdDisks"/>, <see cref="NbdDisk"/>).</summary>
internal static unsafe class NbdDiskExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_disk_start", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdDiskStart(byte* bdevName, byte* nbdDevice,
        delegate* unmanaged[Cdecl]<void*, int, byte*, void> cb, void* ctx) =>
        NbNbdDiskStartGuarded(bdevName, nbdDevice, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbNbdDiskStartGuarded(byte* bdevName, byte* nbdDevice,
        delegate* unmanaged[Cdecl]<void*, int, byte*, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Start(bdevName, nbdDevice, (nint)cb, (nint)ctx);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Start(byte* bdevName, byte* nbdDevice, nint cb, nint ctx)
    {
        if (NbEnvironment.Options == null)
        {
            return NbEnvironment.NotInitialized();
        }
        string? bdev = Guard.String(bdevName, "bdev_name", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        if (bdev == null)
        {
            return Guard.Null("bdev_name");
        }
        string? device = Guard.String(nbdDevice, "nbd_device", out rc);
        if (rc != 0)
        {
            return rc;
        }
        if (Reactor.LightweightThread.Current == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: start an NBD disk from inside nb_thread_poll or after nb_set_thread");
        }
        return NbdDisks.StartDisk(bdev, device, (status, path) =>
        {
            if (cb != 0)
            {
                CreateCallback.Invoke(cb, ctx, status, status == 0 ? path : null);
            }
        });
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_disk_stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdDiskStop(byte* nbdDevice, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx) =>
        NbNbdDiskStopGuarded(nbdDevice, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbNbdDiskStopGuarded(byte* nbdDevice, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Stop(nbdDevice, (nint)cb, (nint)ctx);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Stop(byte* nbdDevice, nint cb, nint ctx)
    {
        string? device = Guard.String(nbdDevice, "nbd_device", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        if (device == null)
        {
            return Guard.Null("nbd_device");
        }
        if (NbdDisks.Find(device) is not { } disk)
        {
            return LastError.Set(Errno.ENODEV, $"no NBD disk of this process is on {device}");
        }
        Action<int>? done = StatusCallback.Direct(cb, ctx);
        disk.Stop(done == null ? null : () => done(0));
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_disk_list", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdDiskList(NbNbdDiskInfo* disks, int max) => NbNbdDiskListGuarded(disks, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbNbdDiskListGuarded(NbNbdDiskInfo* disks, int max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return List(disks, max);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int List(NbNbdDiskInfo* disks, int max)
    {
        if (max < 0)
        {
            return LastError.Set(Errno.EINVAL, $"max {max} is negative");
        }
        if (disks == null && max > 0)
        {
            return Guard.Null("disks");
        }
        NbdDisk[] all = NbdDisks.Snapshot();
        for (int i = 0; i < Math.Min(max, all.Length); i++)
        {
            NbNbdDiskInfo* d = &disks[i];
            *d = default;
            Guard.CopyOut(all[i].Path, d->NbdDevice, 256);
            Guard.CopyOut(all[i].BdevName, d->BdevName, 256);
        }
        return all.Length;
    }
}
