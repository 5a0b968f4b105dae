using System.Collections.Generic;

namespace NativeBdev.Bdev;

/// <summary>Where every thread's I/O pool lives, so that a <c>struct nb_bdev_io *</c> the
/// host passes back (to read an NVMe status, say) is checked to be one of ours before it is
/// read. Only those rare calls look here; the I/O path never does.</summary>
internal static unsafe class BdevIoRegistry
{
    private static readonly object s_lock = new();
    private static readonly List<(nint Start, nint End, int Stride)> s_pools = new();

    public static void Add(byte* pool, int count, int stride)
    {
        lock (s_lock)
        {
            s_pools.Add(((nint)pool, (nint)(pool + (nint)count * stride), stride));
        }
    }

    public static void Remove(byte* pool)
    {
        lock (s_lock)
        {
            s_pools.RemoveAll(p => p.Start == (nint)pool);
        }
    }

    /// <summary>Whether <paramref name="io"/> is an I/O of ours whose completion callback
    /// (or timeout callback) is running: inside a pool, on an element boundary, completing.
    /// A pointer kept past its callback names a reused or free I/O: refused.</summary>
    public static bool InCallback(BdevIo* io)
    {
        nint p = (nint)io;
        lock (s_lock)
        {
            foreach (var (start, end, stride) in s_pools)
            {
                if (p >= start && p < end && (p - start) % stride == 0)
                {
                    return io->State == BdevIo.StateCompleting || (io->Flags & BdevIo.FlagInTimeoutCallback) != 0;
                }
            }
        }
        return false;
    }
}
