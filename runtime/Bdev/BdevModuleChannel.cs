namespace NativeBdev.Bdev;

/// <summary>A backend's per-thread state for one bdev (its ring, queue pair, connection):
/// the submit entry of SPDK's function table. The bdev layer has already validated the
/// I/O (type supported, range, alignment, access) before Submit sees it.</summary>
internal abstract unsafe class BdevModuleChannel
{
    /// <summary>Starts the I/O. The backend completes it later through
    /// <see cref="BdevChannel.Complete"/> (from its Poll) or
    /// <see cref="BdevChannel.CompleteDeferred"/> (from Submit: never complete inline).</summary>
    public abstract void Submit(BdevChannel channel, BdevIo* io);

    /// <summary>Reaps the backend's completions; called on every poll of the thread.
    /// Returns the number of I/Os completed (0 = idle).</summary>
    public virtual int Poll(BdevChannel channel) => 0;

    /// <summary>Releases the per-thread state; no I/O is outstanding.</summary>
    public abstract void Destroy();
}
