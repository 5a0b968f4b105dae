using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Reactor;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Metrics;

/// <summary>What a scrape shows of the runtime itself: per bdev its operations, bytes and
/// errors by type and a latency histogram (the log-linear buckets summed per power of two,
/// in seconds); per thread its busy and idle time; the RPC server's clients. Counters are
/// read without stopping any thread (each is a 64-bit word one thread writes).</summary>
internal static class RuntimeMetrics
{
    private static readonly (BdevIoType Type, string Name)[] s_ops =
    [
        (BdevIoType.Read, "read"), (BdevIoType.Write, "write"), (BdevIoType.Unmap, "unmap"),
        (BdevIoType.Flush, "flush"), (BdevIoType.Reset, "reset"), (BdevIoType.WriteZeroes, "write_zeroes"),
        (BdevIoType.NvmeAdmin, "nvme_admin"), (BdevIoType.NvmeIo, "nvme_io"),
    ];

    public static byte[] Render()
    {
        var w = new PrometheusWriter();
        w.Family("nbdev_build_info", "gauge", "The library's version; always 1.");
        w.Sample("nbdev_build_info", 1, "version", Abi.BaseExports.Version);
        WriteBdevs(w);
        WriteThreads(w);
        w.Family("nbdev_rpc_connections", "gauge", "Clients connected to the JSON-RPC server.");
        w.Sample("nbdev_rpc_connections", Rpc.RpcService.Current?.ConnectionCount ?? 0);
        w.Family("nbdev_nbd_connections", "gauge", "Clients connected to the NBD server.");
        w.Sample("nbdev_nbd_connections", Nbd.NbdService.Current?.ConnectionCount ?? 0);
        foreach (Action<PrometheusWriter> source in MetricsSources.Snapshot())
        {
            source(w);
        }
        return w.ToUtf8();
    }

    private static void WriteBdevs(PrometheusWriter w)
    {
        BlockDevice[] bdevs = BdevRegistry.Snapshot();
        var stats = new BdevStats[bdevs.Length];
        for (int i = 0; i < bdevs.Length; i++)
        {
            stats[i] = bdevs[i].CollectStats();
        }
        double hz = Ticks.Hz;
        w.Family("nbdev_bdev_ops_total", "counter", "I/Os completed successfully, by bdev and type.");
        ForEachOp(bdevs, stats, (b, op, o) => w.Sample("nbdev_bdev_ops_total", o.Ops, "bdev", b, "op", op));
        w.Family("nbdev_bdev_bytes_total", "counter", "Bytes moved by successful I/Os, by bdev and type.");
        ForEachOp(bdevs, stats, (b, op, o) => w.Sample("nbdev_bdev_bytes_total", o.Bytes, "bdev", b, "op", op));
        w.Family("nbdev_bdev_errors_total", "counter", "I/Os that failed, by bdev and type.");
        ForEachOp(bdevs, stats, (b, op, o) => w.Sample("nbdev_bdev_errors_total", o.Errors, "bdev", b, "op", op));
        w.Family("nbdev_bdev_failed", "gauge", "1 when the device monitor has retired the bdev.");
        for (int i = 0; i < bdevs.Length; i++)
        {
            w.Sample("nbdev_bdev_failed", bdevs[i].Failed ? 1 : 0, "bdev", bdevs[i].Name);
        }
        w.Family("nbdev_bdev_io_latency_seconds", "histogram",
            "Submission-to-completion latency of successful I/Os, every type together.");
        for (int i = 0; i < bdevs.Length; i++)
        {
            WriteHistogram(w, bdevs[i].Name, stats[i], hz);
        }
    }

    private static void ForEachOp(BlockDevice[] bdevs, BdevStats[] stats, Action<string, string, OpStats> write)
    {
        for (int i = 0; i < bdevs.Length; i++)
        {
            foreach ((BdevIoType type, string name) in s_ops)
            {
                write(bdevs[i].Name, name, stats[i].Ops[(int)type]);
            }
        }
    }

    /// <summary>One bucket per power of two of ticks (each of the histogram's ranges), cumulative
    /// as Prometheus wants; _sum from the per-type latency sums, _count the histogram's total.</summary>
    private static void WriteHistogram(PrometheusWriter w, string bdev, BdevStats s, double hz)
    {
        ulong[] buckets = s.Histogram.Buckets;
        ulong cumulative = 0;
        for (int range = 0; range < LatencyHistogram.Ranges; range++)
        {
            for (int sub = 0; sub < LatencyHistogram.SubBuckets; sub++)
            {
                cumulative += buckets[range * LatencyHistogram.SubBuckets + sub];
            }
            ulong upper = LatencyHistogram.UpperBound(range * LatencyHistogram.SubBuckets +
                                                      LatencyHistogram.SubBuckets - 1);
            if (upper == ulong.MaxValue)
            {
                break; // the last range is +Inf's
            }
            w.Sample("nbdev_bdev_io_latency_seconds_bucket", cumulative, "bdev", bdev,
                "le", PrometheusWriter.Format((upper + 1) / hz));
        }
        ulong total = s.Histogram.Total;
        w.Sample("nbdev_bdev_io_latency_seconds_bucket", total, "bdev", bdev, "le", "+Inf");
        w.Sample("nbdev_bdev_io_latency_seconds_sum", s.AllOps().LatencyTicks / hz, "bdev", bdev);
        w.Sample("nbdev_bdev_io_latency_seconds_count", total, "bdev", bdev);
    }

    private static void WriteThreads(PrometheusWriter w)
    {
        LightweightThread[] threads = ThreadRegistry.Snapshot();
        double hz = Ticks.Hz;
        w.Family("nbdev_thread_busy_seconds_total", "counter", "Time from polls that did work to the next poll.");
        foreach (LightweightThread t in threads)
        {
            w.Sample("nbdev_thread_busy_seconds_total", t.BusyTicks / hz, "thread", t.Name, "id", Id(t),
                "core", Core(t));
        }
        w.Family("nbdev_thread_idle_seconds_total", "counter", "Time from polls that found nothing to the next poll.");
        foreach (LightweightThread t in threads)
        {
            w.Sample("nbdev_thread_idle_seconds_total", t.IdleTicks / hz, "thread", t.Name, "id", Id(t),
                "core", Core(t));
        }
        w.Family("nbdev_reactors", "gauge", "Reactors running.");
        w.Sample("nbdev_reactors", ReactorSet.Reactors.Length);
    }

    private static string Id(LightweightThread t) =>
        (t.Index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The core of the reactor running the thread, "" for a thread its host polls.</summary>
    private static string Core(LightweightThread t) =>
        t.Reactor?.Core.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "";
}
