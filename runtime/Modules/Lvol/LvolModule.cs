using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>Mayastor's pool and replica URIs over SPDK's lvol store format:
/// <c>lvs:///POOL?mode=import|create|create_import|purge&amp;disk=URI&amp;cluster_size=</c> brings a store
/// up on the bdev disk= makes (or names, with bdev:///NAME) and answers POOL; each of its volumes is
/// a bdev POOL/NAME. <c>lvol:///NAME?size=&amp;thin=&amp;lvs=lvs:///POOL?...</c> brings the store up if it
/// is not, then answers the volume POOL/NAME, created (size bytes, or with a K/M/G/T suffix) when the
/// store has none of that name. The lvs URI inside lvol's may be percent-encoded; unencoded, its
/// mode=, disk= and cluster_size= fall out as lvol's own parameters and are handed back to it.
/// clear_method= (none, unmap, write_zeroes: SPDK's) inside lvs= is the store's, for its data
/// region when it is made (unmap when absent); on lvol:/// itself it is the new volume's, for the
/// clusters it gives back when deleted or shrunk (SPDK's bdev_lvol_create clear_method).</summary>
internal sealed class LvolModule : IBdevModule
{
    public string Name => "lvol";
    public ReadOnlySpan<string> Schemes => new[] { "lvs", "lvol" };
    public unsafe int IoContextSize => sizeof(LvolIoContext);

    /// <summary>SPDK's lvol examine: a bdev that appears with an lvol store on it (a super block
    /// whose CRC holds, of type LVOLSTORE) brings the store and its volumes up, on the registering
    /// thread, which becomes the store's metadata thread. Our own volumes are not examined, nor a
    /// bdev registered without a current thread, nor one that is claimed already, nor one that
    /// starts blank (a RAM or null device: nothing to find, and its probe read would show in its
    /// statistics and cost each creation a metadata thread).</summary>
    public void Examine(Bdev.Bdev bdev)
    {
        if (bdev.ModuleName == Name || bdev.StartsBlank || bdev.ClaimOwner != null || bdev.Removing ||
            Reactor.LightweightThread.Current == null || !bdev.IoTypeSupported(BdevIoType.Read) ||
            bdev.BlockSize > Blob.BlobFormat.PageSize || Blob.BlobFormat.PageSize % bdev.BlockSize != 0 ||
            bdev.SizeBytes < 2 * Blob.BlobFormat.PageSize)
        {
            return;
        }
        if (LvolStore.Probe(bdev.Name, out bool found) != 0 || !found)
        {
            return;
        }
        if (LvolStore.Import(bdev.Name, out LvolStore? store) != 0)
        {
            Log.Warn($"lvol: bdev '{bdev.Name}' holds an lvol store that does not come up: {LastError.Message}");
            return;
        }
        Log.Info($"lvol: store '{store!.Name}' found on bdev '{bdev.Name}', {store.Volumes.Count} volumes");
    }

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        if (uri.Name.Length == 0)
        {
            return LastError.Set(Errno.EINVAL, $"{uri.Scheme}:///NAME needs a name as its path");
        }
        return uri.Scheme == "lvs" ? CreateStore(uri, out name) : CreateVolume(uri, out name);
    }

    private static int CreateStore(BdevUri uri, out string? name)
    {
        name = null;
        string mode = uri.Get("mode") ?? "create_import";
        string? disk = uri.Get("disk"), cluster = uri.Get("cluster_size");
        int rc = LvolClear.Parse(uri.Get("clear_method"), LvolClearMethod.Unmap, out LvolClearMethod clear);
        if (rc != 0 || (rc = uri.CheckAllUsed("mode, disk, cluster_size, clear_method")) != 0)
        {
            return rc;
        }
        rc = LvolPools.Bring(uri.Name, mode, disk, cluster, clear, out LvolStore? store);
        name = store?.Name;
        return rc;
    }

    private static int CreateVolume(BdevUri uri, out string? name)
    {
        name = null;
        string? lvs = uri.Get("lvs");
        if (lvs == null)
        {
            return LastError.Set(Errno.EINVAL, "lvol:///NAME needs lvs=lvs:///POOL?mode=...&disk=URI");
        }
        int rc = BdevUri.Parse(lvs, out BdevUri? lvsUri);
        if (rc != 0)
        {
            return rc;
        }
        if (lvsUri!.Scheme != "lvs" || lvsUri.Name.Length == 0)
        {
            return LastError.Set(Errno.EINVAL, $"lvol's lvs= must be an lvs:///POOL URI, not '{lvs}'");
        }
        string? outerMode = uri.Get("mode"), outerDisk = uri.Get("disk"), outerCluster = uri.Get("cluster_size");
        string mode = lvsUri.Get("mode") ?? outerMode ?? "create_import";
        string? disk = lvsUri.Get("disk") ?? outerDisk;
        string? cluster = lvsUri.Get("cluster_size") ?? outerCluster;
        ulong size = 0;
        bool thin = false;
        LvolClearMethod storeClear = LvolClearMethod.Unmap, clear = LvolClearMethod.Default;
        if ((rc = LvolPools.ParseSize(uri.Get("size"), out size)) != 0 || (rc = uri.GetBool("thin", ref thin)) != 0 ||
            (rc = LvolClear.Parse(uri.Get("clear_method"), LvolClearMethod.Default, out clear)) != 0 ||
            (rc = LvolClear.Parse(lvsUri.Get("clear_method"), LvolClearMethod.Unmap, out storeClear)) != 0 ||
            (rc = uri.CheckAllUsed("size, thin, lvs, mode, disk, cluster_size, clear_method")) != 0 ||
            (rc = lvsUri.CheckAllUsed("mode, disk, cluster_size, clear_method")) != 0)
        {
            return rc;
        }
        if ((rc = LvolPools.Bring(lvsUri.Name, mode, disk, cluster, storeClear, out LvolStore? store)) != 0)
        {
            return rc;
        }
        LvolBdev? v = store!.FindVolume(uri.Name);
        if (v == null)
        {
            if (size == 0)
            {
                return LastError.Set(Errno.EINVAL,
                    $"lvol store '{store.Name}' has no volume '{uri.Name}'; size= creates one");
            }
            if ((rc = LvolVolumes.Create(store, uri.Name, size, thin, clear, out v)) != 0)
            {
                return rc;
            }
        }
        name = v!.Name;
        return 0;
    }
}
