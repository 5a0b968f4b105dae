namespace NativeBdev.Bdev;

/// <summary>A backend's per-thread state for one bdev (its queue pair, its share of a
/// thread-wide ring): the submit entry of SPDK's function table. The bdev layer has already
/// validated the I/O (type supported, range, alignment, access) before Submit sees it.</summary>
internal abstract unsafe class BdevModuleChannel
{
    /// <summary>Starts the I/O. The backend completes it through
    /// <see cref="BdevChannel.Complete"/>, from wherever it is (Submit included: the layer
    /// then delivers it from the next poll).</summary>
    public abstract void Submit(BdevChannel channel, BdevIo* io);

    /// <summary>Whether the layer should poll this channel on every poll of its thread. A
    /// backend that polls a thread-wide resource (one ring, one queue pair) registers that
    /// poller itself and leaves this false, so idle bdevs cost nothing.</summary>
    public virtual bool NeedsPoller => false;

    /// <summary>Reaps the backend's completions for this channel. Called on every poll when
    /// <see cref="NeedsPoller"/>, and while a released channel drains. Returns the number
    /// of I/Os completed (0 = idle).</summary>
    public virtual int Poll(BdevChannel channel) => 0;

    /// <summary>A child I/O this channel sent to its base (<see cref="BdevChannel.SubmitChild"/>)
    /// has finished; <paramref name="child"/> is freed when this returns. By default the parent
    /// completes with the child's status and NVMe details: a virtual bdev that forwards each
    /// I/O once needs nothing more; one that splits or mirrors counts its children here.</summary>
    public virtual void ChildDone(BdevChannel channel, BdevIo* parent, BdevIo* child)
    {
        parent->NvmeCdw0 = child->NvmeCdw0;
        parent->NvmeSct = child->NvmeSct;
        parent->NvmeSc = child->NvmeSc;
        channel.Complete(parent, child->Status);
    }

    /// <summary>Releases the per-thread state; no I/O is outstanding.</summary>
    public abstract void Destroy();
}
