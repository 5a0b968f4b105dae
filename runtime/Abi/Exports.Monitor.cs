using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>The device monitor's exports.</summary>
internal static unsafe class MonitorExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_device_monitor_configure", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbDeviceMonitorConfigure(uint maxErrors, uint windowMs)
        => NbDeviceMonitorConfigureGuarded(maxErrors, windowMs);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbDeviceMonitorConfigureGuarded(uint maxErrors, uint windowMs)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return DeviceMonitor.Configure(maxErrors, windowMs);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_health", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetHealth(nint bdev, NbBdevHealth* health) => NbBdevGetHealthGuarded(bdev, health);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetHealthGuarded(nint bdev, NbBdevHealth* health)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            if (b == null)
            {
                return rc;
            }
            if (health == null)
            {
                return Guard.Null("health");
            }
            nuint size = health->HealthSize;
            if (Guard.CheckStructSize(size, "health->health_size", "nb_bdev_health") is int rc0 && rc0 != 0)
            {
                return rc0;
            }
            BdevStats s = b.CollectStats();
            NbBdevHealth v = default;
            v.HealthSize = (nuint)Math.Min((long)size, sizeof(NbBdevHealth));
            v.Failed = b.Failed ? 1 : 0;
            v.ReadErrors = s.Ops[(int)BdevIoType.Read].Errors;
            v.WriteErrors = s.Ops[(int)BdevIoType.Write].Errors;
            v.OtherErrors = s.OtherErrors();
            Guard.CopyOut(b.FailureReason ?? "", v.Reason, 256);
            Buffer.MemoryCopy(&v, health, (long)v.HealthSize, (long)v.HealthSize);
            return 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_clear_failed", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevClearFailed(nint bdev) => NbBdevClearFailedGuarded(bdev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevClearFailedGuarded(nint bdev)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            return b == null ? rc : DeviceMonitor.Clear(b);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
