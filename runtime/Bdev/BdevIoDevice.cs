using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>The io_device behind a bdev: its channels are BdevChannels.</summary>
internal sealed unsafe class BdevIoDevice : IoDevice
{
    // A bdev's io device is reached through the bdev, never looked up by key, so it stays
    // out of the registry of C io devices: no host pointer can collide with it.
    private static long s_nextKey;
    public readonly Bdev Bdev;

    public BdevIoDevice(Bdev bdev)
        : base((nint)System.Threading.Interlocked.Increment(ref s_nextKey), "bdev:" + bdev.Name, 0)
    {
        Bdev = bdev;
    }

    public override int CreateChannel(IoChannel channel)
    {
        var bc = new BdevChannel(Bdev, channel);
        int rc = bc.Start();
        if (rc != 0)
        {
            return rc;
        }
        channel.State = bc;
        return 0;
    }

    public override void DestroyChannel(IoChannel channel)
    {
        if (channel.State is BdevChannel bc)
        {
            bc.Stop();
            lock (Bdev.RetiredStats)
            {
                Bdev.RetiredStats.Add(bc.Stats);
            }
        }
        channel.State = null;
    }
}
