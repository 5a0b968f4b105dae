namespace NativeBdev.Bdev;

/// <summary>A module whose bdevs delay completions by a configured latency and can be
/// retuned while they run (SPDK's bdev_delay_update_latency), reached through
/// <see cref="BdevModules.Find{T}"/> so that the front end that offers it names no module.</summary>
internal interface IDelayBdevTuner
{
    /// <summary>Sets one latency of the named delay bdev: <paramref name="latencyType"/> is
    /// avg_read, p99_read, avg_write or p99_write, in microseconds. 0 or -errno.</summary>
    int UpdateLatency(string bdevName, string latencyType, ulong microseconds);
}
