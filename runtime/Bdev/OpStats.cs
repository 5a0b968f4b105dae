using System;

namespace NativeBdev.Bdev;

/// <summary>Counters of one op type: SPDK's spdk_bdev_io_stat fields.</summary>
internal struct OpStats
{
    public ulong Ops;
    public ulong Bytes;
    public ulong LatencyTicks;
    public ulong MinLatencyTicks;
    public ulong MaxLatencyTicks;
    public ulong Errors;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Record(ulong bytes, ulong latency)
    {
        Ops++;
        Bytes += bytes;
        LatencyTicks += latency;
        if (latency > MaxLatencyTicks)
        {
            MaxLatencyTicks = latency;
        }
        if (latency < MinLatencyTicks || Ops == 1)
        {
            MinLatencyTicks = latency; // a real 0 is a minimum, not "unset"
        }
    }

    public void Add(in OpStats o)
    {
        if (o.Ops != 0 && (Ops == 0 || o.MinLatencyTicks < MinLatencyTicks))
        {
            MinLatencyTicks = o.MinLatencyTicks;
        }
        Ops += o.Ops;
        Bytes += o.Bytes;
        LatencyTicks += o.LatencyTicks;
        Errors += o.Errors;
        MaxLatencyTicks = Math.Max(MaxLatencyTicks, o.MaxLatencyTicks);
    }
}
