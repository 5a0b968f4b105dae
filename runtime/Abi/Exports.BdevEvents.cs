using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Media-management events: raised by a host or backend, read by descriptors.</summary>
internal static unsafe class BdevEventExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_notify_media_management", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevNotifyMediaManagement(nint bdev, ulong offset, ulong blocks)
        => NbBdevNotifyMediaManagementGuarded(bdev, offset, blocks);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevNotifyMediaManagementGuarded(nint bdev, ulong offset, ulong blocks)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            return b == null ? rc : BdevRegistry.NotifyMediaManagement(b, offset, blocks);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_media_events", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetMediaEvents(nint desc, NbBdevMediaEvent* events, nuint max)
        => NbBdevGetMediaEventsGuarded(desc, events, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetMediaEventsGuarded(nint desc, NbBdevMediaEvent* events, nuint max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            if (d == null)
            {
                return rc;
            }
            if (events == null)
            {
                return Guard.Null("events");
            }
            int n = (int)Math.Min(max, 1024);
            var tmp = new (ulong, ulong)[n];
            int got = BdevRegistry.TakeMediaEvents(d.Bdev, tmp);
            for (int i = 0; i < got; i++)
            {
                events[i].OffsetBlocks = tmp[i].Item1;
                events[i].NumBlocks = tmp[i].Item2;
            }
            return got;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
