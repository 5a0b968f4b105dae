using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

internal sealed unsafe partial class LvolStore
{
    /// <summary>Brings up the store on bdev <paramref name="baseName"/>: opens and claims it, reads the
    /// metadata part in big I/Os as the reader asks for it (<see cref="LvolChunkDevice"/>), parses it
    /// with the blobstore reader (which replays a store that
    /// was not closed cleanly), marks the store dirty on disk and registers a bdev per volume.
    /// The calling thread becomes the store's metadata thread. 0 or -errno.</summary>
    public static int Import(string baseName, out LvolStore? store)
    {
        store = null;
        int rc = OpenBase(baseName, out BdevDesc? desc, out LightweightThread? owner);
        if (rc != 0)
        {
            return rc;
        }
        rc = LvolMdIo.Open(desc!, out LvolMdIo? io, LvolChunkDevice.ChunkBytes);
        if (rc == 0)
        {
            rc = Load(desc!, owner!, io!, out store);
            io!.Dispose();
        }
        if (rc != 0)
        {
            ReleaseBase(desc!);
            return rc;
        }
        if ((rc = store!.Publish()) != 0 || (rc = store.RegisterVolumes()) != 0)
        {
            int said = LastError.Errno;
            string message = LastError.Message;
            store.Abandon();
            store = null;
            return LastError.Set(said, message);
        }
        return 0;
    }

    /// <summary>Whether <paramref name="baseName"/> holds an lvol store (its super block reads as
    /// one): what create_import asks before it chooses between import and create.</summary>
    public static int Probe(string baseName, out bool found)
    {
        found = false;
        if (LightweightThread.Current == null)
        {
            return LastError.Set(Errno.EINVAL, "probing for an lvol store needs a current thread");
        }
        // Read-only and unclaimed: a probe neither takes the bdev nor needs it writable.
        int rc = BdevRegistry.Open(baseName, write: false, null, null, static (_, _) => { }, out BdevDesc? desc);
        if (rc != 0)
        {
            return rc;
        }
        if (desc!.Bdev.BlockSize <= BlobFormat.PageSize && (rc = LvolMdIo.Open(desc, out LvolMdIo? io,
                BlobFormat.PageSize)) == 0)
        {
            var page = new byte[BlobFormat.PageSize];
            rc = io!.Read(0, page);
            found = rc == 0 && page.AsSpan(0, 8).SequenceEqual("SPDKBLOB"u8) && BlobFormat.CrcHolds(page) &&
                    page.AsSpan(56, 10).SequenceEqual("LVOLSTORE\0"u8);
            io.Dispose();
        }
        BdevRegistry.Close(desc);
        return rc;
    }

    private static int OpenBase(string baseName, out BdevDesc? desc, out LightweightThread? owner)
    {
        desc = null;
        owner = LightweightThread.Current;
        if (owner == null)
        {
            return LastError.Set(Errno.EINVAL,
                "an lvol store needs a current thread, which becomes its metadata thread");
        }
        Bdev.Bdev? b = BdevRegistry.Find(baseName);
        if (b == null || b.Removing)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{baseName}' for an lvol store");
        }
        if (b.BlockSize > BlobFormat.PageSize || BlobFormat.PageSize % b.BlockSize != 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"bdev '{baseName}' has {b.BlockSize}-byte blocks; an lvol store needs blocks that divide 4096");
        }
        int rc = BdevRegistry.Open(baseName, write: true, null, null,
            static (t, x) => ForBase(x.Name)?.OnBaseEvent(t, x), out desc);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = BdevRegistry.Claim(desc!, "lvol")) != 0)
        {
            BdevRegistry.Close(desc!);
            desc = null;
        }
        return rc;
    }

    private static void ReleaseBase(BdevDesc desc)
    {
        if (!desc.Closed)
        {
            BdevRegistry.Close(desc);
        }
    }

    private static int Load(BdevDesc desc, LightweightThread owner, LvolMdIo io, out LvolStore? store)
    {
        store = null;
        Bdev.Bdev b = desc.Bdev;
        var page = new byte[BlobFormat.PageSize];
        int rc = io.Read(0, page);
        if (rc != 0)
        {
            return rc;
        }
        BlobSuperBlock super;
        try
        {
            super = BlobSuperBlock.Parse(page, (long)b.SizeBytes);
        }
        catch (BlobFormatError e)
        {
            return LastError.Set(-e.Errno, $"bdev '{b.Name}' holds no lvol store: {e.Message}");
        }
        if (super.IoUnitSize % b.BlockSize != 0)
        {
            return LastError.Set(Errno.EINVAL, $"the store on '{b.Name}' has a {super.IoUnitSize}-byte io unit, " +
                $"not a multiple of the bdev's {b.BlockSize}-byte blocks");
        }
        long prefixBytes = ((long)super.MdStart + super.MdLength) * BlobFormat.PageSize;
        var device = new LvolChunkDevice(io, b, Math.Min(prefixBytes, (long)b.SizeBytes));
        rc = LvolStoreImage.Load(device, out LvolStoreImage? image, out string error);
        if (device.Error != 0)
        {
            return LastError.Set(-device.Error, $"the lvol store on '{b.Name}' does not load: a metadata read " +
                $"failed ({device.Error})");
        }
        if (rc != 0)
        {
            return LastError.Set(-rc, $"the lvol store on '{b.Name}' does not load: {error}");
        }
        BlobStoreImage bs = image!.Store;
        var s = new LvolStore(image.Name, image.Uuid, b, desc, owner, page, bs.Super, bs.UsedPages,
            bs.UsedClusters, bs.UsedBlobIds);
        foreach (BlobRecord r in bs.Blobs.Values)
        {
            s.Blobs.Add(r.Id, LvolBlob.From(r));
        }
        if ((rc = s.DropUnfinishedSnapshots(io)) != 0)
        {
            return rc;
        }
        foreach (LvolBlob blob in s.Blobs.Values)
        {
            if (BlobRecord_ParentId(blob) is ulong p && s.Blobs.TryGetValue(p, out LvolBlob? parent))
            {
                blob.Parent = parent;
                parent.Clones.Add(blob);
            }
        }
        s.SuperBlob = s.Blobs[bs.Super.SuperBlobId];
        if ((rc = s.WriteSuper(io, clean: false)) != 0 || (rc = io.Flush()) != 0)
        {
            return rc;
        }
        store = s;
        return 0;
    }

    /// <summary>SPDK's name for the internal xattr a snapshot carries until its volume is its clone.</summary>
    public const string SnapshotInProgress = "SNAPTMP";

    /// <summary>SPDK's name for the internal xattr a snapshot being deleted carries (its one clone's
    /// id) from before its clone takes its clusters until its first page is zeroed.</summary>
    public const string SnapshotPendingRemoval = "SNAPRM";

    /// <summary>A snapshot still marked in progress: if its volume names it (SNAP), the snapshot was
    /// complete but for the last write, which is done here (the mark goes); if not, the crash
    /// came before the volume's write: the snapshot names the volume's own clusters and goes (its
    /// first page zeroed, its pages and id freed; its clusters stay the volume's).</summary>
    private int DropUnfinishedSnapshots(LvolMdIo io)
    {
        var zero = new byte[BlobFormat.PageSize];
        foreach (LvolBlob b in new List<LvolBlob>(Blobs.Values))
        {
            int rc;
            if (LvolBlob.Get(b.InternalXattrs, SnapshotPendingRemoval) is { Length: 8 } rm &&
                (rc = FinishSnapshotRemoval(io, b, BitConverter.ToUInt64(rm), zero)) != 0)
            {
                return rc;
            }
            if (!Blobs.ContainsKey(b.Id) ||
                LvolBlob.Get(b.InternalXattrs, SnapshotInProgress) is not { Length: 8 } v)
            {
                continue;
            }
            ulong volume = BitConverter.ToUInt64(v);
            if (Blobs.TryGetValue(volume, out LvolBlob? vol) && BlobRecord_ParentId(vol) == b.Id)
            {
                // written without the mark now: once the volume is deleted, nothing would tell a
                // finished snapshot from an unfinished one
                LvolBlob.Remove(b.InternalXattrs, SnapshotInProgress);
                if ((rc = Persist(io, b)) != 0)
                {
                    return rc;
                }
                continue;
            }
            rc = io.Write(((long)Super.MdStart + b.Pages[0]) * BlobFormat.PageSize, zero);
            if (rc != 0)
            {
                return rc;
            }
            ForgetBlob(b);
            Log.Notice($"lvol store '{Name}': snapshot blob 0x{b.Id:x} was not finished before a crash; dropped");
        }
        return 0;
    }

    /// <summary>A snapshot marked pending removal (SNAPRM, its clone's id), as SPDK's load settles
    /// it: if the clone still names it, the crash came before the clone's write: the snapshot stays,
    /// written without the mark. If not, the clone took its clusters: the delete is finished here
    /// (its first page zeroed, its pages and id freed, and the clusters only it held freed).</summary>
    private int FinishSnapshotRemoval(LvolMdIo io, LvolBlob snap, ulong cloneId, byte[] zero)
    {
        if (Blobs.TryGetValue(cloneId, out LvolBlob? clone) && BlobRecord_ParentId(clone) == snap.Id)
        {
            LvolBlob.Remove(snap.InternalXattrs, SnapshotPendingRemoval);
            return Persist(io, snap);
        }
        int rc = io.Write(((long)Super.MdStart + snap.Pages[0]) * BlobFormat.PageSize, zero);
        if (rc != 0)
        {
            return rc;
        }
        var held = new HashSet<uint>(clone?.Clusters ?? []);
        foreach (uint c in snap.Clusters)
        {
            if (c != 0 && !held.Contains(c))
            {
                UsedClusters.Clear(c);
            }
        }
        ForgetBlob(snap);
        Log.Notice($"lvol store '{Name}': snapshot blob 0x{snap.Id:x} was being deleted at a crash; deleted");
        return 0;
    }

    /// <summary>A blob dropped at import whose first page is zeroed already: its metadata pages
    /// and id are free again (its clusters are the caller's to release).</summary>
    private void ForgetBlob(LvolBlob b)
    {
        foreach (uint page in b.Pages)
        {
            UsedPages.Clear(page);
        }
        foreach (uint page in b.ExtentPages)
        {
            UsedPages.Clear(page);
        }
        UsedBlobIds.Clear(BlobFormat.BlobIdToPage(b.Id));
        Blobs.Remove(b.Id);
    }

    private static ulong? BlobRecord_ParentId(LvolBlob b) =>
        LvolBlob.Get(b.InternalXattrs, "SNAP") is { Length: 8 } v ? BitConverter.ToUInt64(v) : null;

    private int RegisterVolumes()
    {
        var ids = new System.Collections.Generic.List<ulong>(Blobs.Keys);
        ids.Sort();
        foreach (ulong id in ids)
        {
            if (id == SuperBlob.Id)
            {
                continue;
            }
            int rc = AddVolume(Blobs[id], out _);
            if (rc != 0)
            {
                return rc;
            }
        }
        return 0;
    }

    /// <summary>A bring-up that failed after the store was published: volumes registered so far
    /// go; the store unloads (clean) once they have.</summary>
    private void Abandon() => Unload(destroy: false, null);
}
