namespace NativeBdev.Bdev;

/// <summary>Per-descriptor I/O timeouts (nb_bdev_set_timeout) on one channel: while any
/// descriptor of the bdev has one, the thread's bdev poller has the channel look for
/// overdue I/O every millisecond,
/// calls the descriptor's callback once for each, and marks it for abort where the
/// descriptor asked: held I/O is then completed with -ETIMEDOUT by the layer.</summary>
internal sealed unsafe class ChannelTimeouts
{
    private readonly BdevChannel _channel;

    public ChannelTimeouts(BdevChannel channel) => _channel = channel;

    public int Scan(long now)
    {
        BdevDesc[]? timed = _channel.Bdev.TimedDescriptors;
        if (timed == null)
        {
            return 0;
        }
        BdevIoPool pool = _channel.Pool;
        void* self = _channel.IoTag;
        int aborts = 0;
        for (int i = 0; i < pool.Capacity; i++)
        {
            BdevIo* io = pool.At(i);
            if (io->State != BdevIo.StateSubmitted || io->Channel != self ||
                (io->Flags & BdevIo.FlagTimedOut) != 0 || io->Type == BdevIoType.Reset)
            {
                continue;
            }
            BdevDesc? d = Find(timed, io->DescId);
            if (d == null || d.TimeoutTicks <= 0 || now - io->SubmitTicks < d.TimeoutTicks)
            {
                continue;
            }
            io->Flags |= BdevIo.FlagTimedOut;
            if (d.AbortOnTimeout)
            {
                io->Flags |= BdevIo.FlagAbort;
                aborts++;
            }
            if (d.TimeoutCallback != null)
            {
                io->Flags |= BdevIo.FlagInTimeoutCallback;
                d.TimeoutCallback(d.TimeoutContext, io);
                io->Flags &= unchecked((byte)~BdevIo.FlagInTimeoutCallback);
            }
        }
        if (aborts > 0)
        {
            ChannelFaults faults = _channel.Faults;
            if (faults.HasStuck)
            {
                faults.ReleaseStuck(-Interop.Errno.ETIMEDOUT, abortedOnly: true);
            }
            if (faults.HasDelayed)
            {
                faults.ProgressDelayed(now);
            }
        }
        return aborts;
    }

    /// <summary>The I/O's descriptor if it has a timeout (a closed one has none): a bdev has
    /// few descriptors with timeouts, so a look through them is the cheapest map.</summary>
    private static BdevDesc? Find(BdevDesc[] timed, long id)
    {
        foreach (BdevDesc d in timed)
        {
            if (d.Id == id)
            {
                return d;
            }
        }
        return null;
    }
}
