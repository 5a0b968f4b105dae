using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>Statistics: merged or per channel (<see cref="BdevStatistics"/> does the work),
/// latency percentiles, reset.</summary>
internal static unsafe class BdevStatsExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_io_stat", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetIoStat(nint bdev, NbBdevIoStat* stat) => NbBdevGetIoStatGuarded(bdev, stat);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetIoStatGuarded(nint bdev, NbBdevIoStat* stat)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            return b == null ? rc : FillStat(BdevStatistics.Of(b), stat);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_channel_get_io_stat", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevChannelGetIoStat(nint ch, NbBdevIoStat* stat) => NbBdevChannelGetIoStatGuarded(ch, stat);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevChannelGetIoStatGuarded(nint ch, NbBdevIoStat* stat)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            IoChannel? c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out int rc);
            if (c == null)
            {
                return rc;
            }
            return (rc = BdevStatistics.Of(c, out BdevStatsReport r)) != 0 ? rc : FillStat(r, stat);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FillStat(in BdevStatsReport report, NbBdevIoStat* stat)
    {
        if (stat == null)
        {
            return Guard.Null("stat");
        }
        nuint size = stat->StatSize;
        if (Guard.CheckStructSize(size, "stat->stat_size", "nb_bdev_io_stat") is int rc0 && rc0 != 0)
        {
            return rc0;
        }
        BdevStats s = report.Stats;
        ref OpStats r = ref s.Ops[(int)BdevIoType.Read];
        ref OpStats w = ref s.Ops[(int)BdevIoType.Write];
        ref OpStats u = ref s.Ops[(int)BdevIoType.Unmap];
        ref OpStats z = ref s.Ops[(int)BdevIoType.WriteZeroes];
        OpStats all = report.All;
        var v = new NbBdevIoStat
        {
            StatSize = (nuint)Math.Min((long)size, sizeof(NbBdevIoStat)),
            BytesRead = r.Bytes, NumReadOps = r.Ops, BytesWritten = w.Bytes, NumWriteOps = w.Ops,
            BytesUnmapped = u.Bytes, NumUnmapOps = u.Ops, BytesZeroed = z.Bytes, NumWriteZeroesOps = z.Ops,
            NumFlushOps = s.Ops[(int)BdevIoType.Flush].Ops, NumResetOps = s.Ops[(int)BdevIoType.Reset].Ops,
            ReadLatencyTicks = r.LatencyTicks, MinReadLatencyTicks = r.MinLatencyTicks,
            MaxReadLatencyTicks = r.MaxLatencyTicks,
            WriteLatencyTicks = w.LatencyTicks, MinWriteLatencyTicks = w.MinLatencyTicks,
            MaxWriteLatencyTicks = w.MaxLatencyTicks,
            UnmapLatencyTicks = u.LatencyTicks, MinUnmapLatencyTicks = u.MinLatencyTicks,
            MaxUnmapLatencyTicks = u.MaxLatencyTicks,
            NumReadErrors = r.Errors, NumWriteErrors = w.Errors, NumOtherErrors = report.OtherErrors,
            TicksRate = (ulong)Ticks.Hz, QueueDepth = report.QueueDepth,
            NumOps = report.CompletedOps, LatencyTicks = all.LatencyTicks,
            MinLatencyTicks = all.MinLatencyTicks, MaxLatencyTicks = all.MaxLatencyTicks,
        };
        Buffer.MemoryCopy(&v, stat, (long)size, (long)v.StatSize);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_latency_percentiles", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetLatencyPercentiles(nint bdev, nint ch, double* pcts, ulong* ticks, int count)
        => NbBdevGetLatencyPercentilesGuarded(bdev, ch, pcts, ticks, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetLatencyPercentilesGuarded(nint bdev, nint ch, double* pcts, ulong* ticks, int count)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Percentiles(bdev, ch, pcts, ticks, count);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Percentiles(nint bdev, nint ch, double* pcts, ulong* ticks, int count)
    {
        Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
        if (b == null)
        {
            return rc;
        }
        if (pcts == null || ticks == null)
        {
            return Guard.Null(pcts == null ? "percentiles" : "ticks");
        }
        if (count <= 0 || count > 1024)
        {
            return LastError.Set(Errno.EINVAL, $"count {count} must be 1 .. 1024");
        }
        IoChannel? c = null;
        if (ch != 0 && (c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out rc)) == null)
        {
            return rc;
        }
        return BdevStatistics.Percentiles(b, c, new ReadOnlySpan<double>(pcts, count), new Span<ulong>(ticks, count));
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_reset_io_stat", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevResetIoStat(nint bdev, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
        => NbBdevResetIoStatGuarded(bdev, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevResetIoStatGuarded(nint bdev, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
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
            return BdevStatistics.Reset(b, StatusCallback.Direct((nint)cb, (nint)ctx));
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
