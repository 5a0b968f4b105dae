using System;

namespace NativeBdev.Bdev;

/// <summary>All counters of a channel (or a merged total): one OpStats per I/O type, a
/// histogram, and the time spent with I/O outstanding (SPDK's io_time).</summary>
internal sealed class BdevStats
{
    public readonly OpStats[] Ops = new OpStats[(int)BdevIoType.Count];
    public readonly LatencyHistogram Histogram = new();

    public void Add(BdevStats o)
    {
        for (int i = 0; i < Ops.Length; i++)
        {
            Ops[i].Add(o.Ops[i]);
        }
        Histogram.Add(o.Histogram);
    }

    public void Clear()
    {
        Array.Clear(Ops);
        Histogram.Clear();
    }

    /// <summary>Errors of every op type but read and write (SPDK's num_other_errors is not
    /// split further): what nb_bdev_io_stat and nb_bdev_health report as other errors.</summary>
    public ulong OtherErrors()
    {
        ulong n = 0;
        for (int t = 0; t < Ops.Length; t++)
        {
            if (t != (int)BdevIoType.Read && t != (int)BdevIoType.Write)
            {
                n += Ops[t].Errors;
            }
        }
        return n;
    }

    /// <summary>Every op type's counters added up.</summary>
    public OpStats AllOps()
    {
        OpStats all = default;
        for (int t = 0; t < Ops.Length; t++)
        {
            all.Add(Ops[t]);
        }
        return all;
    }
}
