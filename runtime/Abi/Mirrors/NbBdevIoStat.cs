using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_bdev_io_stat.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NbBdevIoStat
{
    public nuint StatSize;
    public ulong BytesRead, NumReadOps, BytesWritten, NumWriteOps, BytesUnmapped, NumUnmapOps;
    public ulong BytesZeroed, NumWriteZeroesOps, NumFlushOps, NumResetOps;
    public ulong ReadLatencyTicks, MinReadLatencyTicks, MaxReadLatencyTicks;
    public ulong WriteLatencyTicks, MinWriteLatencyTicks, MaxWriteLatencyTicks;
    public ulong UnmapLatencyTicks, MinUnmapLatencyTicks, MaxUnmapLatencyTicks;
    public ulong NumReadErrors, NumWriteErrors, NumOtherErrors;
    public ulong TicksRate, QueueDepth;
    public ulong NumOps, LatencyTicks, MinLatencyTicks, MaxLatencyTicks;
}
