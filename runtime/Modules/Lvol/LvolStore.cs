using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>A running lvol store on a claimed base bdev: the super block (kept as its page, so
/// what we do not change is written back byte for byte), the three masks, every blob, and a bdev
/// per volume. Its metadata thread (<see cref="Owner"/>, the thread that brought it up) is the only
/// one that changes any of it; the data path on other threads only reads cluster maps. On disk the
/// store is marked dirty (clean = 0) from the moment it is brought up to the moment it is unloaded,
/// so a crash in between is recovered by replaying the metadata region, as SPDK does.</summary>
internal sealed unsafe partial class LvolStore
{
    private static readonly object s_lock = new();
    private static readonly Dictionary<string, LvolStore> s_byName = new(StringComparer.Ordinal);

    private readonly byte[] _superPage;
    private readonly List<LvolBdev> _volumes = [];
    private Action<int>? _unloaded;
    private bool _unloading;
    private bool _destroyOnUnload;

    private LvolStore(string name, string uuid, Bdev.Bdev baseBdev, BdevDesc desc, LightweightThread owner,
        byte[] superPage, BlobSuperBlock super, BlobBitMask pages, BlobBitMask clusters, BlobBitMask ids)
    {
        Name = name;
        Uuid = uuid;
        Base = baseBdev;
        Desc = desc;
        Owner = owner;
        _superPage = superPage;
        Super = super;
        UsedPages = pages;
        UsedClusters = clusters;
        UsedBlobIds = ids;
        Allocator = new LvolAllocator(this);
        Drain = new LvolReadDrain(this);
    }

    public string Name { get; private set; }
    public string Uuid { get; }
    public Bdev.Bdev Base { get; }
    public BdevDesc Desc { get; }
    public LightweightThread Owner { get; }
    public BlobSuperBlock Super { get; private set; }
    public BlobBitMask UsedPages { get; }
    public BlobBitMask UsedClusters { get; private set; }
    public BlobBitMask UsedBlobIds { get; }
    public Dictionary<ulong, LvolBlob> Blobs { get; } = [];
    public LvolBlob SuperBlob { get; private set; } = null!;
    public LvolAllocator Allocator { get; }

    /// <summary>Where clusters taken from a volume wait for the reads that may still read them.</summary>
    public LvolReadDrain Drain { get; }

    /// <summary>Finished snapshots whose in-progress mark is still on disk (its removal failed):
    /// written again before the next metadata change (LvolVolumes.WithMd).</summary>
    public List<LvolBlob> MarkedOnDisk { get; } = [];

    /// <summary>The base bdev was made from the lvs URI's disk= (not named with bdev:///): it goes
    /// when the store does.</summary>
    public bool OwnsBase { get; set; }

    public ulong ClusterSize => Super.ClusterSize;
    public uint IoUnitSize => Super.IoUnitSize;
    public ulong TotalDataClusters => Super.TotalDataClusters;
    public long FreeClusters => UsedClusters.Bits - UsedClusters.CountSet();
    public IReadOnlyList<LvolBdev> Volumes => _volumes;

    public static LvolStore? Find(string name)
    {
        lock (s_lock)
        {
            return s_byName.GetValueOrDefault(name);
        }
    }

    public static LvolStore? FindByUuid(string uuid)
    {
        lock (s_lock)
        {
            foreach (LvolStore s in s_byName.Values)
            {
                if (string.Equals(s.Uuid, uuid, StringComparison.OrdinalIgnoreCase))
                {
                    return s;
                }
            }
            return null;
        }
    }

    public static LvolStore[] All()
    {
        lock (s_lock)
        {
            var all = new LvolStore[s_byName.Count];
            s_byName.Values.CopyTo(all, 0);
            Array.Sort(all, (a, b) => string.CompareOrdinal(a.Name, b.Name));
            return all;
        }
    }

    public static LvolStore? ForBase(string baseName)
    {
        lock (s_lock)
        {
            foreach (LvolStore s in s_byName.Values)
            {
                if (s.Base.Name == baseName)
                {
                    return s;
                }
            }
            return null;
        }
    }

    public LvolBdev? FindVolume(string lvolName)
    {
        foreach (LvolBdev v in _volumes)
        {
            if (v.LvolName == lvolName && !v.Removing)
            {
                return v;
            }
        }
        return null;
    }

    /// <summary>Checks the calling thread is the store's metadata thread: every change runs there.</summary>
    public int CheckOwner()
    {
        if (_unloading)
        {
            return LastError.Set(Errno.ENODEV, $"lvol store '{Name}' is being unloaded");
        }
        return Owner.IsCurrent ? 0 : LastError.Set(Errno.EXDEV,
            $"lvol store '{Name}' is changed on its metadata thread '{Owner.Name}' only");
    }

    /// <summary>SPDK's bdev_lvol_grow_lvstore: takes in what the base grew by. The super block's size
    /// is written first (a crash after it leaves the new clusters free: a replay and a clean load
    /// both size the cluster mask from it), then the cluster mask is lengthened in memory; it is on
    /// disk at the next clean unload. The mask's region was sized when the store was made: a base
    /// grown past what it can hold is -ENOSPC. 0 also when the base has not grown.</summary>
    public int Grow()
    {
        int rc = CheckOwner();
        if (rc != 0)
        {
            return rc;
        }
        ulong size = Base.SizeBytes / ClusterSize * ClusterSize;
        ulong total = size / ClusterSize;
        if (total <= Super.TotalClusters)
        {
            return 0;
        }
        long room = (((long)Super.UsedClusterMaskLength * BlobFormat.PageSize) - BlobFormat.MaskHeader) * 8;
        if ((long)total > room)
        {
            return LastError.Set(Errno.ENOSPC, $"lvol store '{Name}': its used-cluster mask holds {room} " +
                $"clusters, the grown base has {total}");
        }
        if (Allocator.Busy)
        {
            return LastError.Set(Errno.EBUSY, $"lvol store '{Name}' is allocating clusters; try again");
        }
        ulong oldSize = BinaryPrimitives.ReadUInt64LittleEndian(_superPage.AsSpan(80));
        BinaryPrimitives.WriteUInt64LittleEndian(_superPage.AsSpan(80), size);
        rc = LvolVolumes.WithMd(this, io => WriteSuper(io, clean: false) is int w && w != 0 ? w : io.Flush());
        if (rc != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_superPage.AsSpan(80), oldSize);
            return rc;
        }
        Super = BlobSuperBlock.Parse(_superPage, (long)Base.SizeBytes);
        UsedClusters = UsedClusters.Grown((long)total);
        return 0;
    }

    /// <summary>Writes the super block with <paramref name="clean"/>; the rest of the page as read
    /// (or as made), its CRC recomputed.</summary>
    public int WriteSuper(LvolMdIo io, bool clean)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_superPage.AsSpan(16), clean ? 1u : 0u);
        BinaryPrimitives.WriteUInt32LittleEndian(_superPage.AsSpan(BlobFormat.CrcOffset),
            Crc32c.Compute(_superPage.AsSpan(0, BlobFormat.CrcOffset)));
        return io.Write(0, _superPage);
    }

    /// <summary>The masks to their regions, then the super block with clean = 1: the store loads
    /// from its masks again (SPDK's unload).</summary>
    private int WriteClean(LvolMdIo io)
    {
        int rc;
        if ((rc = WriteMask(io, UsedPages, BlobFormat.MaskUsedPages, Super.UsedPageMaskStart,
                Super.UsedPageMaskLength)) != 0 ||
            (rc = WriteMask(io, UsedClusters, BlobFormat.MaskUsedClusters, Super.UsedClusterMaskStart,
                Super.UsedClusterMaskLength)) != 0 ||
            (rc = WriteMask(io, UsedBlobIds, BlobFormat.MaskUsedBlobIds, Super.UsedBlobIdMaskStart,
                Super.UsedBlobIdMaskLength)) != 0 ||
            (rc = io.Flush()) != 0 ||
            (rc = WriteSuper(io, clean: true)) != 0)
        {
            return rc;
        }
        return io.Flush();
    }

    private static int WriteMask(LvolMdIo io, BlobBitMask mask, byte type, uint start, uint pages)
    {
        var region = new byte[(long)pages * BlobFormat.PageSize];
        if (BlobFormat.MaskHeader + ((mask.Bits + 7) / 8) > region.Length)
        {
            return LastError.Set(Errno.ENOSPC, $"a mask of {mask.Bits} bits does not fit its {pages} pages");
        }
        mask.WriteTo(region, type);
        return io.Write((long)start * BlobFormat.PageSize, region);
    }

    private int Publish()
    {
        lock (s_lock)
        {
            if (s_byName.ContainsKey(Name))
            {
                return LastError.Set(Errno.EEXIST, $"an lvol store named '{Name}' is loaded already");
            }
            s_byName.Add(Name, this);
            return 0;
        }
    }

    public int Rename(string newName)
    {
        lock (s_lock)
        {
            if (s_byName.ContainsKey(newName))
            {
                return LastError.Set(Errno.EEXIST, $"an lvol store named '{newName}' is loaded already");
            }
            s_byName.Remove(Name);
            Name = newName;
            s_byName.Add(Name, this);
            return 0;
        }
    }

    /// <summary>Registers the bdev of a volume (an lvol blob of this store).</summary>
    public int AddVolume(LvolBlob blob, out LvolBdev? volume)
    {
        volume = null;
        string? name = blob.GetString("name");
        if (name is null || !Guid.TryParse(blob.GetString("uuid"), out Guid uuid))
        {
            return LastError.Set(Errno.EILSEQ, $"lvol store '{Name}': blob 0x{blob.Id:x} has no name or uuid");
        }
        var v = new LvolBdev(this, blob, name, uuid);
        int rc = BdevRegistry.Register(v);
        if (rc != 0)
        {
            return rc;
        }
        _volumes.Add(v);
        volume = v;
        return 0;
    }

    /// <summary>A volume's bdev is destructed: the last one of an unloading store closes it.</summary>
    public void VolumeGone(LvolBdev v)
    {
        _volumes.Remove(v);
        if (v.Blob.Deleted)
        {
            if (Owner.IsCurrent)
            {
                Forget(v.Blob);
            }
            else
            {
                Owner.SendControl(&ForgetOnOwner, v.Blob);
            }
        }
        if (_unloading && _volumes.Count == 0)
        {
            Close();
        }
    }

    /// <summary>Unloads the store (Mayastor's pool export; with <paramref name="destroy"/>, SPDK's
    /// bdev_lvol_delete_lvstore, which also wipes the super block): every volume's bdev goes, then
    /// the masks and clean = 1 are written and the base released. <paramref name="done"/> runs
    /// once that is done, on the thread the last volume went on.</summary>
    public int Unload(bool destroy, Action<int>? done)
    {
        if (_unloading)
        {
            return LastError.Set(Errno.EALREADY, $"lvol store '{Name}' is being unloaded");
        }
        _unloading = true;
        _destroyOnUnload = destroy;
        _unloaded = done;
        lock (s_lock)
        {
            if (s_byName.GetValueOrDefault(Name) == this)
            {
                s_byName.Remove(Name);
            }
        }
        if (_volumes.Count == 0)
        {
            Close();
            return 0;
        }
        foreach (LvolBdev v in _volumes.ToArray())
        {
            if (!v.Removing)
            {
                BdevRegistry.Destroy(v.Name, null);
            }
        }
        return 0;
    }

    private void Close()
    {
        int rc = 0;
        // No volume is left to read: what waits is cleared and free before the masks are written.
        Drain.Close(canClear: !Desc.Closed && !Base.Removing);
        if (!Desc.Closed && Base.Removing)
        {
            // The base is going (hot-remove, its delete): nothing can be written; the store stays
            // marked dirty on disk, and its next import replays it.
            Log.Warn($"lvol store '{Name}': base '{Base.Name}' is going; the store is left dirty on disk");
            Allocator.Dispose();
            BdevRegistry.Close(Desc);
        }
        else if (!Desc.Closed)
        {
            rc = LvolMdIo.Open(Desc, out LvolMdIo? io);
            if (rc == 0)
            {
                rc = _destroyOnUnload ? io!.Zero(0, BlobFormat.PageSize) : WriteClean(io!);
                io!.Dispose();
            }
            if (rc != 0)
            {
                Log.Error($"lvol store '{Name}': unload could not write its metadata: {LastError.Message}");
            }
            Allocator.Dispose();
            BdevRegistry.Close(Desc);
        }
        if (OwnsBase && !Base.Removing)
        {
            BdevRegistry.Destroy(Base.Name, null);
        }
        _unloaded?.Invoke(rc);
    }

    private static void ForgetOnOwner(object? o, nint _)
    {
        var blob = (LvolBlob)o!;
        foreach (LvolStore s in All())
        {
            if (s.Blobs.TryGetValue(blob.Id, out LvolBlob? b) && b == blob)
            {
                s.Forget(blob);
            }
        }
    }

    private void Forget(LvolBlob blob)
    {
        blob.Parent?.Clones.Remove(blob);
        ReleaseBlob(blob);
    }

    private void OnBaseEvent(BdevEventType type, Bdev.Bdev b)
    {
        if (type == BdevEventType.Remove && !_unloading)
        {
            Log.Warn($"lvol store '{Name}': its base '{b.Name}' is going; the store is unloaded");
            Unload(destroy: false, null);
        }
    }
}
