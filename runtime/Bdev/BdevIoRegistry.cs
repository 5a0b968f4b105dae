using System.Collections.Generic;

namespace NativeBdev.Bdev;

/// <summary>Where every channel's I/O pool lives, so that a <c>struct nb_bdev_io *</c> the
/// host passes back (to read an NVMe status, say) is checked to be one of ours before it is
/// read. Only those rare calls look here; the I/O path never does.</summary>
internal static unsafe class BdevIoRegistry
{
    private static readonly object s_lock = new();
    private static readonly List<(nint Start, nint End, BdevChannel Channel)> s_pools = new();

    public static void Add(BdevIo* pool, int count, BdevChannel channel)
    {
        lock (s_lock)
        {
            s_pools.Add(((nint)pool, (nint)(pool + count), channel));
        }
    }

    public static void Remove(BdevIo* pool)
    {
        lock (s_lock)
        {
            s_pools.RemoveAll(p => p.Start == (nint)pool);
        }
    }

    /// <summary>The channel owning <paramref name="io"/> if it is an I/O of ours whose
    /// completion callback is running (inside a pool, on an element boundary, completing);
    /// else null. A pointer kept past its callback names a reused or free I/O: refused.</summary>
    public static BdevChannel? Find(BdevIo* io)
    {
        nint p = (nint)io;
        lock (s_lock)
        {
            foreach (var (start, end, channel) in s_pools)
            {
                if (p >= start && p < end && (p - start) % sizeof(BdevIo) == 0)
                {
                    return io->State == BdevIo.StateCompleting ||
                           (io->Flags & BdevIo.FlagInTimeoutCallback) != 0 ? channel : null;
                }
            }
        }
        return null;
    }
}
