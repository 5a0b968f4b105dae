using NativeBdev.Env;

namespace NativeBdev.Bdev;

/// <summary>The device monitor's count of one channel's errors in the current window
/// (per channel, so no atomics: the threshold is "this many within the window on one
/// thread").</summary>
internal struct ErrorWindow
{
    private long _start;
    private int _errors;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public unsafe void Count(Bdev bdev, BdevIo* io, long now, string threadName)
    {
        if (bdev.FailedFlag != 0)
        {
            return;
        }
        if (now - _start > DeviceMonitor.WindowTicks)
        {
            _start = now;
            _errors = 0;
        }
        if (++_errors >= DeviceMonitor.MaxErrors)
        {
            DeviceMonitor.Retire(bdev, $"{_errors} I/O errors within " +
                $"{Ticks.ToMicroseconds(DeviceMonitor.WindowTicks) / 1000:F0} ms on thread '{threadName}' " +
                $"(last: {io->Type} at block {io->OffsetBlocks}, status {io->Status})");
        }
    }
}
