using System;
using System.Numerics;

namespace NativeBdev.Bdev;

/// <summary>A log-linear latency histogram (as SPDK's histogram_data): each power of two of
/// ticks is split into 16 linear sub-buckets, so any value is placed within 1/16 (6%) of
/// itself. Recording is a leading-zero count and an increment.</summary>
internal sealed class LatencyHistogram
{
    public const int SubBits = 4;
    public const int SubBuckets = 1 << SubBits;
    public const int Ranges = 64 - SubBits + 1;
    private static readonly ulong[] s_empty = new ulong[Ranges * SubBuckets]; // never written
    // Made on the first recorded I/O: an idle channel (a thousand open bdevs on a thread,
    // most of them idle) does not carry 7.8 KB of empty buckets. Readers on other threads
    // see either no histogram (all zeros) or a zero-initialised one being filled.
    private ulong[]? _buckets;

    /// <summary>The counts (all zeros, shared and read-only, until the first record).</summary>
    public ulong[] Buckets => _buckets ?? s_empty;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int BucketOf(ulong ticks)
    {
        if (ticks < SubBuckets)
        {
            return (int)ticks;
        }
        int range = 63 - BitOperations.LeadingZeroCount(ticks) - SubBits + 1; // >= 1
        int sub = (int)(ticks >> (range - 1)) & (SubBuckets - 1);
        return range * SubBuckets + sub;
    }

    /// <summary>The smallest tick value that falls in <paramref name="bucket"/>.</summary>
    public static ulong LowerBound(int bucket)
    {
        int range = bucket / SubBuckets;
        ulong sub = (ulong)(bucket % SubBuckets);
        return range == 0 ? sub : (SubBuckets + sub) << (range - 1);
    }

    public static ulong UpperBound(int bucket) =>
        bucket + 1 >= Ranges * SubBuckets ? ulong.MaxValue : LowerBound(bucket + 1) - 1;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Record(ulong ticks) => (_buckets ?? Allocate())[BucketOf(ticks)]++;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private ulong[] Allocate() => _buckets = new ulong[Ranges * SubBuckets];

    public void Add(LatencyHistogram o)
    {
        ulong[]? from = o._buckets;
        if (from == null)
        {
            return;
        }
        ulong[] to = _buckets ?? Allocate();
        for (int i = 0; i < to.Length; i++)
        {
            to[i] += from[i];
        }
    }

    public void Clear()
    {
        if (_buckets != null)
        {
            Array.Clear(_buckets);
        }
    }

    public ulong Total
    {
        get
        {
            ulong n = 0;
            foreach (ulong b in Buckets)
            {
                n += b;
            }
            return n;
        }
    }

    /// <summary>The upper bound, in ticks, of the bucket holding the given percentile.</summary>
    public ulong Percentile(double percent)
    {
        ulong total = Total;
        if (total == 0)
        {
            return 0;
        }
        ulong rank = (ulong)Math.Ceiling(total * Math.Clamp(percent, 0, 100) / 100.0);
        if (rank == 0)
        {
            rank = 1;
        }
        ulong seen = 0;
        for (int i = 0; i < Buckets.Length; i++)
        {
            seen += Buckets[i];
            if (seen >= rank)
            {
                return UpperBound(i);
            }
        }
        return UpperBound(Buckets.Length - 1);
    }
}
