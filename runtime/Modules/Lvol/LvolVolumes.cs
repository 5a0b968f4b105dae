using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>The volume operations of SPDK's lvol library (create, resize, rename, read-only,
/// delete), each a metadata change made on the store's metadata thread and written before it is
/// answered. Clusters a change gives back are freed in memory only once the metadata that no longer
/// names them is on disk; clusters it takes are taken before the metadata naming them is written.</summary>
internal static class LvolVolumes
{
    /// <summary>SPDK stores an lvol's name as its whole 64-byte buffer, NUL padded.</summary>
    public const int NameXattrBytes = LvolStore.MaxNameLength + 1;

    public static int Create(LvolStore store, string name, ulong sizeBytes, bool thin, out LvolBdev? volume) =>
        Create(store, name, sizeBytes, thin, LvolClearMethod.Default, out volume);

    /// <summary>SPDK's bdev_lvol_create: <paramref name="clear"/> is kept in the blob's md_ro flags (as
    /// SPDK keeps it) and clears the clusters the volume gives back when deleted or shrunk (default:
    /// unmap).</summary>
    public static int Create(LvolStore store, string name, ulong sizeBytes, bool thin, LvolClearMethod clear,
        out LvolBdev? volume)
    {
        volume = null;
        int rc = store.CheckOwner();
        if (rc != 0 || (rc = LvolStore.CheckName(name, "lvol")) != 0)
        {
            return rc;
        }
        if (store.FindVolume(name) != null)
        {
            return LastError.Set(Errno.EEXIST, $"lvol store '{store.Name}' has a volume '{name}' already");
        }
        ulong clusters = (sizeBytes / store.ClusterSize) + (sizeBytes % store.ClusterSize != 0 ? 1UL : 0);
        if (sizeBytes == 0 || clusters > BlobDescriptorParser.MaxClusters)
        {
            return LastError.Set(Errno.EINVAL, $"volume size {sizeBytes} bytes: at least one byte, " +
                $"at most {BlobDescriptorParser.MaxClusters} clusters");
        }
        var map = new uint[clusters];
        if (!thin && (rc = store.ReserveClusters(map, 0, map.Length)) != 0)
        {
            return rc;
        }
        if ((rc = store.ReserveBlobId(out ulong id)) != 0)
        {
            store.ReleaseClusters(map, 0);
            return rc;
        }
        var blob = new LvolBlob(id, map)
        {
            Pages = [BlobFormat.BlobIdToPage(id)],
            InvalidFlags = thin ? BlobFormat.ThinProvisioned : 0,
        };
        SetName(blob, name);
        blob.SetString("uuid", Guid.NewGuid().ToString());
        LvolClear.Set(blob, clear);
        store.Blobs.Add(id, blob);
        if ((rc = WithMd(store, io => store.Persist(io, blob))) != 0)
        {
            store.ReleaseBlob(blob, clear: false);
            return rc;
        }
        return store.AddVolume(blob, out volume);
    }

    public static void SetName(LvolBlob blob, string name)
    {
        var value = new byte[NameXattrBytes];
        System.Text.Encoding.UTF8.GetBytes(name, value);
        LvolBlob.Set(blob.Xattrs, "name", value);
    }

    /// <summary>Grows (thin: unallocated clusters; thick: new ones) or shrinks (the clusters past the
    /// end go back once the shorter map is on disk) a volume, then its bdev.</summary>
    public static int Resize(LvolBdev v, ulong sizeBytes)
    {
        LvolStore store = v.Store;
        int rc = store.CheckOwner();
        if (rc != 0)
        {
            return rc;
        }
        LvolBlob blob = v.Blob;
        if (blob.IsReadOnly || blob.Clones.Count > 0)
        {
            return LastError.Set(Errno.EPERM, $"volume '{v.Name}' is read-only or a snapshot: it is not resized");
        }
        ulong clusters = (sizeBytes / store.ClusterSize) + (sizeBytes % store.ClusterSize != 0 ? 1UL : 0);
        if (sizeBytes == 0 || clusters > BlobDescriptorParser.MaxClusters)
        {
            return LastError.Set(Errno.EINVAL, $"volume size {sizeBytes} bytes is out of range");
        }
        if (store.Allocator.Busy)
        {
            return LastError.Set(Errno.EBUSY, $"volume '{v.Name}': cluster allocations are in flight");
        }
        // A shrink must not free a cluster a write is still going to: writes are frozen while it is made.
        if (!blob.TryFreeze())
        {
            return LastError.Set(Errno.EBUSY, $"volume '{v.Name}' has writes in flight: try the resize again");
        }
        try
        {
            rc = ResizeMap(store, blob, clusters);
        }
        finally
        {
            System.Threading.Volatile.Write(ref blob.Frozen, false);
        }
        if (rc != 0)
        {
            return rc;
        }
        return v.Resize(clusters * store.ClusterSize / v.BlockSize);
    }

    private static int ResizeMap(LvolStore store, LvolBlob blob, ulong clusters)
    {
        int rc;
        uint[] old = blob.Clusters;
        var map = new uint[clusters];
        Array.Copy(old, map, Math.Min(old.Length, map.Length));
        if (map.Length > old.Length && !blob.IsThin &&
            (rc = store.ReserveClusters(map, old.Length, map.Length - old.Length)) != 0)
        {
            return rc;
        }
        // The map is published after the write: a shrink frees clusters only once no metadata
        // names them, a grow exposes clusters only once metadata does.
        if ((rc = WithMd(store, io => store.Persist(io, blob, map))) != 0)
        {
            if (map.Length > old.Length)
            {
                store.ReleaseClusters(map, old.Length);
            }
            return rc;
        }
        blob.Clusters = map;
        if (map.Length < old.Length)
        {
            // cleared with the volume's method (SPDK's truncation), after reads in flight past the end
            store.FreeAfterReads(blob, old, map.Length, LvolClear.Of(blob));
        }
        return 0;
    }

    public static int Rename(LvolBdev v, string newName)
    {
        LvolStore store = v.Store;
        int rc = store.CheckOwner();
        if (rc != 0 || (rc = LvolStore.CheckName(newName, "lvol")) != 0)
        {
            return rc;
        }
        if (store.FindVolume(newName) != null)
        {
            return LastError.Set(Errno.EEXIST, $"lvol store '{store.Name}' has a volume '{newName}' already");
        }
        byte[]? old = LvolBlob.Get(v.Blob.Xattrs, "name");
        SetName(v.Blob, newName);
        if ((rc = WithMd(store, io => store.Persist(io, v.Blob))) != 0)
        {
            LvolBlob.Set(v.Blob.Xattrs, "name", old!);
            return rc;
        }
        v.LvolName = newName;
        return 0;
    }

    public static int SetReadOnly(LvolBdev v)
    {
        LvolStore store = v.Store;
        int rc = store.CheckOwner();
        if (rc != 0)
        {
            return rc;
        }
        ulong old = v.Blob.DataRoFlags;
        v.Blob.DataRoFlags |= BlobFormat.ReadOnly;
        if ((rc = WithMd(store, io => store.Persist(io, v.Blob))) != 0)
        {
            v.Blob.DataRoFlags = old;
        }
        return rc;
    }

    /// <summary>Deletes a volume: its first metadata page is zeroed (a replay no longer finds the
    /// blob), then its pages and clusters go back and its bdev goes. A snapshot with one clone hands
    /// its clusters to it first (<see cref="LvolSnapshots.DeleteSnapshot"/>).</summary>
    public static int Delete(LvolBdev v, Action<int>? done)
    {
        LvolStore store = v.Store;
        int rc = store.CheckOwner();
        if (rc != 0)
        {
            return rc;
        }
        if (v.Blob.Clones.Count > 0)
        {
            return LvolSnapshots.DeleteSnapshot(v, done);
        }
        if (store.Allocator.Busy)
        {
            return LastError.Set(Errno.EBUSY, $"volume '{v.Name}': cluster allocations are in flight");
        }
        if ((rc = WithMd(store, io => io.Zero(store.MdOffset(v.Blob.Pages[0]), BlobFormat.PageSize))) != 0)
        {
            return rc;
        }
        // Its pages and clusters go back when the bdev is destructed (LvolStore.VolumeGone): writes
        // still in flight to it must not land in a cluster some other volume got meanwhile.
        v.Blob.Deleted = true;
        return BdevRegistry.Destroy(v.Name, done);
    }

    private static int WriteMarked(LvolStore store, LvolMdIo io)
    {
        List<LvolBlob> marked = store.MarkedOnDisk;
        while (marked.Count > 0)
        {
            LvolBlob snap = marked[^1];
            if (!snap.Deleted && store.Blobs.ContainsKey(snap.Id))
            {
                int rc = store.Persist(io, snap);
                if (rc != 0)
                {
                    return rc;
                }
            }
            marked.RemoveAt(marked.Count - 1);
        }
        return 0;
    }

    /// <summary>Runs <paramref name="body"/> with synchronous metadata I/O to the store's base. A
    /// finished snapshot whose in-progress mark could not be removed on disk is written first
    /// (and the change refused if that fails): the change could end what tells an import the
    /// snapshot was finished (its volume naming it).</summary>
    public static int WithMd(LvolStore store, Func<LvolMdIo, int> body)
    {
        int rc = LvolMdIo.Open(store.Desc, out LvolMdIo? io);
        if (rc != 0)
        {
            return rc;
        }
        try
        {
            return (rc = WriteMarked(store, io!)) != 0 ? rc : body(io!);
        }
        finally
        {
            io!.Dispose();
        }
    }
}
