using System.Threading;

namespace NativeBdev.Modules.Nexus;

/// <summary>The range lock a rebuild copies a segment under (SPDK's bdev_lock_lba_range, in
/// segment units): writes in flight are counted per segment while a rebuild runs, and a segment
/// is locked by publishing it in a small table. A writer counts itself first and then looks at
/// the table; the rebuild publishes first and then looks at the count; both steps are full
/// fences (Dekker's pattern), so either the writer sees the lock and waits, or the rebuild sees
/// the writer and waits. Nothing here is touched while no rebuild runs.</summary>
internal sealed class NexusRangeLocks
{
    public const int Slots = 16;
    private readonly int[] _inFlight;
    private readonly long[] _locked = new long[Slots];

    public NexusRangeLocks(int segments)
    {
        _inFlight = new int[segments];
        for (int i = 0; i < Slots; i++)
        {
            _locked[i] = -1;
        }
    }

    /// <summary>A write over segments [first, last] counts itself; false (and uncounted) when one
    /// of them is locked: the write waits and tries again.</summary>
    public bool TryEnter(long first, long last)
    {
        for (long s = first; s <= last; s++)
        {
            Interlocked.Increment(ref _inFlight[s]);
        }
        for (int i = 0; i < Slots; i++)
        {
            long l = Volatile.Read(ref _locked[i]);
            if (l >= first && l <= last)
            {
                Leave(first, last);
                return false;
            }
        }
        return true;
    }

    public void Leave(long first, long last)
    {
        for (long s = first; s <= last; s++)
        {
            Interlocked.Decrement(ref _inFlight[s]);
        }
    }

    /// <summary>The rebuild's slot <paramref name="slot"/> locks <paramref name="segment"/>;
    /// the copy may start once <see cref="Drained"/> says so.</summary>
    public void Lock(int slot, long segment)
    {
        Interlocked.Exchange(ref _locked[slot], segment);
    }

    public bool Drained(long segment) => Volatile.Read(ref _inFlight[segment]) == 0;

    public void Unlock(int slot) => Volatile.Write(ref _locked[slot], -1);
}
