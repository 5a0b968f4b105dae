using System;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>The seed's device monitor: watches completions for error bursts and retires a
/// device that has too many — marks it failed, tells every descriptor
/// (<see cref="BdevEventType.Failed"/>), and from then on fails its I/O at once without
/// touching the backend, until a host clears it. Errors are counted per channel (no
/// atomics), so the threshold means "this many errors within the window on one thread".
/// Cancellations (a reset's) are not failures and are not counted. Off by default.</summary>
internal static class DeviceMonitor
{
    private static int s_maxErrors;
    private static long s_windowTicks;

    public static int MaxErrors => Volatile.Read(ref s_maxErrors);
    public static long WindowTicks => Volatile.Read(ref s_windowTicks);

    public static int Configure(uint maxErrors, uint windowMs)
    {
        if (maxErrors > 0 && windowMs == 0)
        {
            return LastError.Set(Errno.EINVAL, "a window of 0 ms would count nothing: give window_ms");
        }
        Volatile.Write(ref s_windowTicks, Ticks.FromMicroseconds(windowMs * 1000L));
        Volatile.Write(ref s_maxErrors, (int)Math.Min(maxErrors, int.MaxValue));
        return 0;
    }

    /// <summary>Retires <paramref name="b"/> once (the first caller wins) and sends the event.</summary>
    public static void Retire(Bdev b, string reason)
    {
        if (Interlocked.CompareExchange(ref b.FailedFlag, 1, 0) != 0)
        {
            return;
        }
        b.FailureReason = reason;
        Log.Error($"device monitor: bdev '{b.Name}' retired: {reason}");
        BdevRegistry.Notify(b, BdevEventType.Failed);
    }

    public static int Clear(Bdev b)
    {
        if (Interlocked.Exchange(ref b.FailedFlag, 0) == 0)
        {
            return LastError.Set(Errno.EALREADY, $"bdev '{b.Name}' is not retired");
        }
        b.FailureReason = null;
        Log.Notice($"device monitor: bdev '{b.Name}' re-admitted");
        return 0;
    }
}
