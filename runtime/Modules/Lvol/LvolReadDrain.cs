using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>Frees clusters taken away from a volume (an unmap's release, a shrink, a deleted
/// snapshot's leftovers) only once no read that could still be reading them is in flight: without
/// this, a read that mapped a cluster just before an unmap could be served after the cluster went
/// to another volume and was written there, and return that volume's data.
/// Every read counts itself on its volume's blob for its whole life, under the blob's read phase
/// (<see cref="LvolBlob.EnterRead"/>). The change publishes the map without the clusters, then
/// hands them here: the phase of every blob that could read them (the volume and the clones under
/// it) is flipped, and they are freed once the old phase's count is zero. Reads that start after
/// the flip see the new map and count under the new phase, so the wait ends once the reads in
/// flight at the flip are back, however busy the volume stays (a grace period, as in RCU). With no
/// read in flight (the usual case) the clusters are free at once; else a poller on the metadata
/// thread checks each poll. Frees that come during a grace period wait for the next one, which
/// starts when it ends. Metadata thread only, but for the unload (which may run on the thread the
/// last volume went on): a lock, off the I/O path, keeps the two apart.</summary>
internal sealed unsafe class LvolReadDrain(LvolStore store)
{
    private readonly List<(LvolBlob Blob, int Phase)> _flipped = [];
    // cleared (each with its method) and freed when the grace period in _flipped ends
    private readonly List<(uint Device, LvolClearMethod Clear)> _waiting = [];
    private readonly HashSet<LvolBlob> _nextReaders = [];
    private readonly List<(uint Device, LvolClearMethod Clear)> _next = []; // after the period that follows
    private readonly object _gate = new();
    private Poller? _poller;
    private bool _closed;

    /// <summary>Clusters taken away and not yet free (reads that may still read them are in flight).</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Count + _next.Count;
            }
        }
    }

    public long GracePeriods { get; private set; }

    /// <summary>Frees <paramref name="devices"/>, which no map of <paramref name="blob"/> names any
    /// more, once the reads of it (and of <see cref="LvolBlob.Heir"/>, and of every clone under
    /// either) that started before now are back: cleared first with <paramref name="clear"/>
    /// (<see cref="LvolClear"/>; after the reads, so none of them sees the clearing).</summary>
    public void Free(LvolBlob blob, IReadOnlyList<uint> devices, LvolClearMethod clear)
    {
        Invariant.Assert(store.Owner.IsCurrent || _closed, "clusters freed off the metadata thread");
        if (devices.Count == 0)
        {
            return;
        }
        lock (_gate)
        {
            if (_closed)
            {
                foreach (uint d in devices)
                {
                    _waiting.Add((d, clear));
                }
                ClearAndFree(_waiting, canClear: true);
                return;
            }
            AddReaders(blob, 0);
            if (blob.Heir != null)
            {
                AddReaders(blob.Heir, 0);
            }
            foreach (uint d in devices)
            {
                _next.Add((d, clear));
            }
            Advance();
        }
    }

    private void AddReaders(LvolBlob b, int depth)
    {
        if (depth > 1024 || !_nextReaders.Add(b))
        {
            return;
        }
        foreach (LvolBlob c in b.Clones)
        {
            AddReaders(c, depth + 1);
        }
    }

    /// <summary>Ends the grace period if its reads are back, starts the next if frees wait for one,
    /// and keeps the poller for as long as one runs. Busy (1) when it freed something.</summary>
    private int Advance()
    {
        int work = 0;
        while (true)
        {
            foreach (var (b, phase) in _flipped)
            {
                if (!b.ReadsDrained(phase))
                {
                    StartPoller();
                    return work;
                }
            }
            if (_flipped.Count > 0)
            {
                ClearAndFree(_waiting, canClear: true);
                _flipped.Clear();
                work = 1;
            }
            if (_next.Count == 0)
            {
                StopPoller();
                return work;
            }
            // The maps without _next's clusters are published: flip after them.
            foreach (LvolBlob b in _nextReaders)
            {
                _flipped.Add((b, b.FlipReadPhase()));
            }
            _waiting.AddRange(_next);
            _next.Clear();
            _nextReaders.Clear();
            GracePeriods++;
        }
    }

    /// <summary>Clears what asks for it (synchronous metadata I/O: the management paths' way), then
    /// frees all of <paramref name="list"/> and empties it. A clear that fails is logged and the
    /// clusters freed all the same: the base is failing, and holding them would leak them.</summary>
    private void ClearAndFree(List<(uint Device, LvolClearMethod Clear)> list, bool canClear)
    {
        if (canClear)
        {
            Clear(list);
        }
        foreach (var (d, _) in list)
        {
            Invariant.Assert(store.UsedClusters[d], "a cluster freed twice");
            store.UsedClusters.Clear(d);
        }
        list.Clear();
    }

    private void Clear(List<(uint Device, LvolClearMethod Clear)> list)
    {
        var unmap = new List<uint>();
        var zeroes = new List<uint>();
        foreach (var (d, m) in list)
        {
            if (m == LvolClearMethod.WriteZeroes)
            {
                zeroes.Add(d);
            }
            else if (m != LvolClearMethod.None)
            {
                unmap.Add(d); // Default is unmap, as in SPDK
            }
        }
        if (unmap.Count + zeroes.Count == 0)
        {
            return;
        }
        int rc = LvolVolumes.WithMd(store, io =>
        {
            int r = LvolClear.Clusters(store, io, unmap, LvolClearMethod.Unmap);
            return r != 0 ? r : LvolClear.Clusters(store, io, zeroes, LvolClearMethod.WriteZeroes);
        });
        if (rc != 0)
        {
            Log.Error($"lvol store '{store.Name}': clearing {unmap.Count + zeroes.Count} freed clusters " +
                $"failed: {LastError.Message}");
        }
        Cleared += unmap.Count + zeroes.Count;
    }

    /// <summary>Clusters cleared (unmapped or zeroed) on their way back to the store.</summary>
    public long Cleared { get; private set; }

    private void StartPoller()
    {
        if (_poller != null)
        {
            return;
        }
        int rc = store.Owner.RegisterPoller("lvol-read-drain:" + store.Name, 0,
            (nint)(delegate*<object?, int>)&PollThunk, 0, this, managed: true, out _poller);
        if (rc != 0)
        {
            // The thread is exiting: the store goes with it, and its unload frees what waits.
            Log.Warn($"lvol store '{store.Name}': no poller to free clusters after reads: {LastError.Message}");
            _poller = null;
        }
    }

    private void StopPoller()
    {
        if (_poller != null && store.Owner.IsCurrent)
        {
            store.Owner.UnregisterPoller(_poller);
            _poller = null;
        }
    }

    private static int PollThunk(object? o)
    {
        var d = (LvolReadDrain)o!;
        lock (d._gate)
        {
            if (d._closed)
            {
                d.StopPoller();
                return 0;
            }
            return d.Advance();
        }
    }

    /// <summary>The store is unloading (every volume's bdev is gone, so no read is in flight): what
    /// waits is cleared (unless <paramref name="canClear"/> is false: the base is going) and freed
    /// now, so the clean masks written next do not keep it. On any thread; a poller still
    /// registered unregisters itself on its next run.</summary>
    public void Close(bool canClear)
    {
        lock (_gate)
        {
            _closed = true;
            _waiting.AddRange(_next);
            _next.Clear();
            ClearAndFree(_waiting, canClear);
            _flipped.Clear();
            _nextReaders.Clear();
            StopPoller();
        }
    }
}
