using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>Gives volumes clusters on first write (thin volumes, and clones copying on write), on
/// the store's metadata thread only: a channel on any thread asks by message and parks the I/O;
/// the answer comes back to the channel's thread by message. Requests that arrive together are one
/// batch: each distinct (volume, cluster) gets a free cluster, filled first with what the volume
/// read there before (its snapshot's cluster, or zeros) so that the whole cluster is defined; then
/// each volume's metadata is written once for all its new clusters; only then is the new map
/// published and the I/Os let go (they then write their data into their own cluster). A crash
/// before the metadata write leaves the cluster unreferenced; after it, the cluster holds the old
/// content: never garbage. -ENOSPC when the store has no free cluster.
/// The same queue takes clusters back (an unmap or write zeroes of a whole cluster of a thin
/// volume): the volume is frozen if none of its writes is in flight (else the cluster is kept and
/// the piece zeroes it in place), the cluster unmapped on the base, its metadata without the
/// cluster written, the map published, and the cluster free for another volume once the reads
/// that may still read it are back (<see cref="LvolReadDrain"/>).</summary>
internal sealed class LvolAllocator(LvolStore store) : IDisposable
{
    private readonly List<(LvolChannel Channel, nint Io)> _queue = [];
    private LvolOwnerIo? _io;
    private bool _running;
    private bool _disposed;
    private int _asked; // requests sent and not yet answered, from any thread

    /// <summary>Whether requests are queued or in flight: management changes wait for none.</summary>
    public bool Busy => Volatile.Read(ref _asked) != 0 || _running;

    /// <summary>The answer to a release request when the cluster stays the volume's (its writes
    /// were in flight, so it could not be frozen): the piece zeroes it in place instead.</summary>
    public const int KeptCluster = 1;

    public long Allocations { get; private set; }
    public long Releases { get; private set; }
    public long MetadataWrites { get; private set; }

    /// <summary>Called on <paramref name="channel"/>'s thread. The answer always comes by message,
    /// never inline, so the channel's split loop is never re-entered.</summary>
    public unsafe int Request(LvolChannel channel, BdevIo* io)
    {
        if (_disposed)
        {
            return LastError.Set(Errno.ENODEV, $"lvol store '{store.Name}' is unloaded");
        }
        Interlocked.Increment(ref _asked);
        int rc = store.Owner.SendControl(&OnRequest, channel, (nint)io);
        if (rc != 0)
        {
            Interlocked.Decrement(ref _asked);
        }
        return rc;
    }

    private static unsafe void OnRequest(object? o, nint io)
    {
        var channel = (LvolChannel)o!;
        LvolAllocator a = channel.Volume.Store.Allocator;
        a._queue.Add((channel, io));
        if (!a._running)
        {
            // Started by a message of its own rather than here: the requests already waiting
            // behind this one join the first batch and share its metadata write.
            a._running = true;
            if (channel.Volume.Store.Owner.SendControl(&OnStart, a) != 0)
            {
                _ = a.RunGuarded();
            }
        }
    }

    private static void OnStart(object? o, nint arg) => _ = ((LvolAllocator)o!).RunGuarded();

    private async Task RunGuarded()
    {
        try
        {
            while (_queue.Count > 0)
            {
                var batch = new List<(LvolChannel, nint)>(_queue);
                _queue.Clear();
                try
                {
                    await RunBatch(batch).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    // A bug, not a state: the batch's writes fail rather than wait for ever.
                    Log.Error($"lvol store '{store.Name}': an allocation batch failed: {e}");
                    foreach (var (channel, io) in batch)
                    {
                        Answer(channel, io, -Errno.EIO);
                    }
                }
            }
        }
        catch (Exception e)
        {
            Log.Error($"lvol store '{store.Name}': the allocator failed: {e}");
        }
        finally
        {
            _running = false;
        }
    }

    private async Task RunBatch(List<(LvolChannel Channel, nint Io)> batch)
    {
        int rc = 0;
        if (_disposed)
        {
            rc = LastError.Set(Errno.ENODEV, $"lvol store '{store.Name}' is unloaded");
        }
        else if (_io == null && (rc = LvolOwnerIo.Open(store.Desc, out _io)) != 0)
        {
            _io = null;
        }
        var fresh = new Dictionary<LvolBlob, Dictionary<long, uint>>();
        var status = new Dictionary<(LvolBlob, long), int>();
        var releases = new Dictionary<LvolBlob, HashSet<long>>();
        foreach (var (channel, io) in batch)
        {
            LvolBlob blob = channel.Volume.Blob;
            long cluster = ClusterOf(io);
            if (rc == 0 && IsRelease(io))
            {
                if (!releases.TryGetValue(blob, out HashSet<long>? set))
                {
                    releases[blob] = set = [];
                }
                set.Add(cluster);
                continue;
            }
            if (rc != 0 || status.ContainsKey((blob, cluster)))
            {
                continue;
            }
            if (blob.Deleted || cluster >= blob.Clusters.Length)
            {
                status[(blob, cluster)] = blob.Deleted ? -Errno.ENODEV : -Errno.EINVAL; // deleted or shrunk
                continue;
            }
            if (blob.Clusters[cluster] != 0)
            {
                continue;
            }
            status[(blob, cluster)] = await Fill(blob, cluster, fresh).ConfigureAwait(false);
        }
        foreach (var (blob, added) in fresh)
        {
            int mrc = await PersistWith(blob, added).ConfigureAwait(false);
            foreach (long c in added.Keys)
            {
                status[(blob, c)] = mrc;
            }
        }
        var released = new Dictionary<LvolBlob, int>();
        foreach (var (blob, clusters) in releases)
        {
            released[blob] = await Release(blob, clusters).ConfigureAwait(false);
        }
        foreach (var (channel, io) in batch)
        {
            LvolBlob blob = channel.Volume.Blob;
            long cluster = ClusterOf(io);
            int answer = rc != 0 ? rc
                : IsRelease(io) ? released[blob] : status.GetValueOrDefault((blob, cluster));
            Answer(channel, io, answer);
        }
    }

    private static unsafe bool IsRelease(nint io) =>
        LvolChannel.Context((BdevIo*)io)->Release == LvolIoContext.ReleaseAsked;

    /// <summary>Gives <paramref name="clusters"/> of <paramref name="blob"/> back to the store: frozen
    /// (no write of it in flight, new ones wait here), its metadata without them written, the map
    /// published, then the clusters freed: a crash before the metadata write leaves them the
    /// volume's, after it they are free (unnamed) either way. 0, <see cref="KeptCluster"/>, or -errno.</summary>
    private async Task<int> Release(LvolBlob blob, HashSet<long> clusters)
    {
        if (blob.Deleted)
        {
            return -Errno.ENODEV;
        }
        if (!blob.TryFreeze())
        {
            return KeptCluster;
        }
        try
        {
            var map = (uint[])blob.Clusters.Clone();
            var freed = new List<uint>();
            foreach (long c in clusters)
            {
                if (c < map.Length && map[c] != 0)
                {
                    freed.Add(map[c]);
                    map[c] = 0;
                }
            }
            if (freed.Count == 0)
            {
                return 0;
            }
            // SPDK's order: the area is unmapped first (a thick volume that gets the cluster later
            // must not read this volume's data), then the metadata, then the cluster is free.
            int rc = await ClearReleased(freed).ConfigureAwait(false);
            if (rc == 0)
            {
                rc = await WriteMap(blob, map).ConfigureAwait(false);
            }
            if (rc != 0)
            {
                return rc;
            }
            // Free once the reads that mapped them before the new map are back: else one of them
            // could read what another volume writes there next.
            store.Drain.Free(blob, freed, LvolClearMethod.None); // zeroed above
            Releases += freed.Count;
            return 0;
        }
        finally
        {
            Volatile.Write(ref blob.Frozen, false);
        }
    }

    /// <summary>Unmaps (or, on a base without unmap, zeroes) each cluster of <paramref name="freed"/>:
    /// the volume is frozen and the clusters still its own, so a read meanwhile sees zeros, as a
    /// read racing an unmap may.</summary>
    private async Task<int> ClearReleased(List<uint> freed)
    {
        BdevIoType type = store.Base.IoTypeSupported(BdevIoType.Unmap) ? BdevIoType.Unmap : BdevIoType.WriteZeroes;
        long size = (long)store.ClusterSize;
        foreach (uint device in freed)
        {
            int rc = await _io!.Run(type, device * size, (int)size).ConfigureAwait(false);
            if (rc != 0)
            {
                return rc;
            }
        }
        return 0;
    }

    /// <summary>Takes a cluster for logical cluster <paramref name="cluster"/> of <paramref name="blob"/>
    /// and gives it the content the volume reads there now.</summary>
    private async Task<int> Fill(LvolBlob blob, long cluster, Dictionary<LvolBlob, Dictionary<long, uint>> fresh)
    {
        var one = new uint[1];
        int rc = store.ReserveClusters(one, 0, 1);
        if (rc != 0)
        {
            return rc;
        }
        uint source = blob.Resolve(cluster);
        long size = (long)store.ClusterSize;
        if (source == 0 && store.Base.IoTypeSupported(BdevIoType.WriteZeroes))
        {
            // zeros: one write zeroes of the cluster (a file's fallocate, a device's command)
            // instead of the cluster's size in writes of a zeroed buffer
            rc = await _io!.Run(BdevIoType.WriteZeroes, one[0] * size, (int)size).ConfigureAwait(false);
            size = 0;
        }
        for (long done = 0; done < size && rc == 0; done += LvolOwnerIo.BufferBytes)
        {
            int n = (int)Math.Min(LvolOwnerIo.BufferBytes, size - done);
            if (source != 0)
            {
                rc = await _io!.Run(BdevIoType.Read, (source * size) + done, n).ConfigureAwait(false);
            }
            else if (done == 0)
            {
                _io!.ClearBuffer();
            }
            if (rc == 0)
            {
                rc = await _io!.Run(BdevIoType.Write, (one[0] * size) + done, n).ConfigureAwait(false);
            }
        }
        if (rc != 0)
        {
            store.UsedClusters.Clear(one[0]);
            return rc;
        }
        if (!fresh.TryGetValue(blob, out Dictionary<long, uint>? added))
        {
            fresh[blob] = added = [];
        }
        added[cluster] = one[0];
        Allocations++;
        return 0;
    }

    /// <summary>One metadata write for every cluster the batch gave <paramref name="blob"/>; the
    /// new map is published once it is on disk.</summary>
    private async Task<int> PersistWith(LvolBlob blob, Dictionary<long, uint> added)
    {
        var map = (uint[])blob.Clusters.Clone();
        foreach (var (c, device) in added)
        {
            if (c < map.Length) // a shrink meanwhile (the management paths refuse while Busy)
            {
                map[c] = device;
            }
        }
        // Published only once it is on disk: a write that saw the cluster early could be
        // acknowledged (and flushed) before the metadata naming it, and lost in a crash.
        int rc = await WriteMap(blob, map).ConfigureAwait(false);
        if (rc != 0)
        {
            foreach (uint device in added.Values)
            {
                store.UsedClusters.Clear(device);
            }
        }
        return rc;
    }

    /// <summary>Writes <paramref name="blob"/>'s metadata with cluster map <paramref name="map"/> and,
    /// once it is on disk, publishes the map.</summary>
    private async Task<int> WriteMap(LvolBlob blob, uint[] map)
    {
        int rc = store.Plan(blob, map, out LvolMdPlan? plan);
        for (int i = 0; rc == 0 && i < plan!.Writes.Count; i++)
        {
            var (offset, page) = plan.Writes[i];
            _io!.CopyToBuffer(page);
            rc = await _io.Run(BdevIoType.Write, offset, page.Length).ConfigureAwait(false);
        }
        if (rc != 0)
        {
            plan?.Abort(store.UsedPages);
            return rc;
        }
        plan!.Commit(store.UsedPages);
        blob.Clusters = map;
        MetadataWrites++;
        return 0;
    }

    private static unsafe long ClusterOf(nint io) => LvolChannel.Context((BdevIo*)io)->Cluster;

    /// <summary>The status rides back in the context's Cluster field: the I/O's thread may be
    /// counting other children of it meanwhile, and they write Status, never Cluster.</summary>
    private unsafe void Answer(LvolChannel channel, nint io, int status)
    {
        LvolChannel.Context((BdevIo*)io)->Cluster = status;
        if (channel.Thread.SendControl(&OnAnswer, channel, io) != 0)
        {
            Log.Error($"lvol store '{store.Name}': the thread of an allocating write has exited");
        }
        Interlocked.Decrement(ref _asked);
    }

    private static unsafe void OnAnswer(object? o, nint io)
    {
        var channel = (LvolChannel)o!;
        channel.ClusterReady((BdevIo*)io, (int)LvolChannel.Context((BdevIo*)io)->Cluster);
    }

    /// <summary>The store is closing: no more requests; the owner's channel is put on its thread.</summary>
    public unsafe void Dispose()
    {
        _disposed = true;
        LvolOwnerIo? io = _io;
        _io = null;
        if (io != null)
        {
            if (io.Thread.IsCurrent)
            {
                io.Dispose();
            }
            else
            {
                io.Thread.SendControl(&DisposeOnThread, io);
            }
        }
    }

    private static void DisposeOnThread(object? o, nint _) => ((LvolOwnerIo)o!).Dispose();
}
