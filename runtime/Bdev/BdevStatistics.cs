using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>The statistics operations a front end offers (nb_bdev_get_io_stat and its
/// neighbours; an RPC's bdev_get_iostat and bdev_reset_iostat): a bdev's counters merged over
/// its channels or one channel's, latency percentiles, and the reset. Control paths only.</summary>
internal static class BdevStatistics
{
    /// <summary>The bdev's counters: every live channel and the channels already gone.</summary>
    public static BdevStatsReport Of(Bdev bdev) => new(bdev.CollectStats(), bdev.OutstandingIo());

    /// <summary>One channel's counters; only a bdev's channel has them.</summary>
    public static int Of(IoChannel channel, out BdevStatsReport report)
    {
        report = default;
        if (channel.State is not BdevChannel bc)
        {
            return LastError.Set(Errno.EINVAL, "io channel is not a bdev channel");
        }
        report = new BdevStatsReport(bc.Stats, bc.Outstanding);
        return 0;
    }

    /// <summary>Latency percentiles in ticks, of the whole bdev or (when
    /// <paramref name="channel"/> is given) of one of its channels. A percentile outside
    /// 0 .. 100 is refused where it stands; the ones before it are filled in.</summary>
    public static int Percentiles(Bdev bdev, IoChannel? channel, ReadOnlySpan<double> percents, Span<ulong> ticks)
    {
        LatencyHistogram h;
        if (channel != null)
        {
            if (channel.State is not BdevChannel bc || bc.Bdev != bdev)
            {
                return LastError.Set(Errno.EINVAL, "io channel is not a channel of this bdev");
            }
            h = bc.Stats.Histogram;
        }
        else
        {
            h = bdev.CollectStats().Histogram;
        }
        for (int i = 0; i < percents.Length; i++)
        {
            if (!(percents[i] >= 0 && percents[i] <= 100))
            {
                return LastError.Set(Errno.EINVAL, $"percentile {percents[i]} is not within 0 .. 100");
            }
            ticks[i] = h.Percentile(percents[i]);
        }
        return 0;
    }

    /// <summary>Clears the bdev's counters: the retired ones now, each channel's on its own
    /// thread (its counters are written without atomics), then <paramref name="done"/> with the
    /// status, on the calling thread, which must be a lightweight thread.</summary>
    public static int Reset(Bdev bdev, Action<int>? done)
    {
        if (LightweightThread.Current == null)
        {
            // Checked before anything is cleared: a refused call changes nothing.
            return LastError.Set(Errno.EINVAL, "no current thread: reset statistics from a thread");
        }
        lock (bdev.RetiredStats)
        {
            bdev.RetiredStats.Clear();
        }
        return bdev.IoDevice.ForEachChannel(
            static ch =>
            {
                (ch.State as BdevChannel)?.Stats.Clear();
                return 0;
            },
            status => done?.Invoke(status));
    }
}
