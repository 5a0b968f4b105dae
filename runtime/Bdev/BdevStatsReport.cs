namespace NativeBdev.Bdev;

/// <summary>What a bdev's or one channel's statistics report (nb_bdev_get_io_stat, and an
/// RPC's bdev_get_iostat would report the same): the counters, the I/O outstanding now, and
/// the totals derived from them, so every front end derives them alike.</summary>
internal readonly struct BdevStatsReport
{
    public readonly BdevStats Stats;
    /// <summary>I/O passed to the backend and not yet completed.</summary>
    public readonly ulong QueueDepth;
    /// <summary>Errors of every op type but read and write.</summary>
    public readonly ulong OtherErrors;
    /// <summary>Every op type added up: its <see cref="OpStats.Ops"/> counts successes only.</summary>
    public readonly OpStats All;

    public BdevStatsReport(BdevStats stats, int outstanding)
    {
        Stats = stats;
        // Channels' counts are read while their threads run: a sum caught mid-update is not
        // reported as a negative depth.
        QueueDepth = (ulong)System.Math.Max(0, outstanding);
        OtherErrors = stats.OtherErrors();
        All = stats.AllOps();
    }

    /// <summary>Completed I/O of every type, failed ones included.</summary>
    public ulong CompletedOps => All.Ops + All.Errors;
}
