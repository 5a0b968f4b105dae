using System;
using System.Globalization;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>Mayastor's pool modes over a base bdev: import (the store must be there, named as
/// asked), create (there must be none), create_import (import if there is one, else create),
/// purge (create over whatever is there). A pool that is loaded already is answered as is.</summary>
internal static class LvolPools
{
    public const ulong DefaultClusterSize = 4UL << 20; // SPDK's lvs default

    public static int Bring(string pool, string mode, string? disk, string? clusterText, out LvolStore? store) =>
        Bring(pool, mode, disk, clusterText, LvolClearMethod.Unmap, out store);

    /// <summary><paramref name="clear"/>: what a store made here does to its data region (SPDK's
    /// bdev_lvol_create_lvstore clear_method); an import ignores it.</summary>
    public static int Bring(string pool, string mode, string? disk, string? clusterText, LvolClearMethod clear,
        out LvolStore? store)
    {
        store = LvolStore.Find(pool);
        if (store != null)
        {
            return 0;
        }
        if (mode is not ("import" or "create" or "create_import" or "purge"))
        {
            return LastError.Set(Errno.EINVAL, $"lvs mode '{mode}': expected import, create, create_import or purge");
        }
        ulong cluster = DefaultClusterSize;
        int rc = ParseSize(clusterText, out ulong c);
        if (rc != 0)
        {
            return rc;
        }
        cluster = c != 0 ? c : cluster;
        if (disk == null)
        {
            return LastError.Set(Errno.ENODEV, $"lvol store '{pool}' is not loaded, and the lvs URI has no disk=");
        }
        if ((rc = ResolveDisk(disk, out string? baseName, out bool owns)) != 0)
        {
            return rc;
        }
        rc = BringOn(pool, mode, baseName!, cluster, clear, out store);
        if (rc != 0)
        {
            if (owns)
            {
                int said = LastError.Errno;
                string message = LastError.Message;
                BdevRegistry.Destroy(baseName!, null);
                LastError.Set(said, message);
            }
            return rc;
        }
        store!.OwnsBase = owns;
        return 0;
    }

    private static int BringOn(string pool, string mode, string baseName, ulong cluster, LvolClearMethod clear,
        out LvolStore? store)
    {
        store = LvolStore.ForBase(baseName); // the examine brought it up as the disk appeared
        if (store != null)
        {
            return Examined(pool, mode, baseName, ref store);
        }
        bool found = false;
        int rc;
        if (mode != "purge" && (rc = LvolStore.Probe(baseName, out found)) != 0)
        {
            return rc;
        }
        if (mode == "create" && found)
        {
            return LastError.Set(Errno.EEXIST, $"bdev '{baseName}' holds an lvol store already (mode=create)");
        }
        if (mode == "import" && !found)
        {
            return LastError.Set(Errno.ENODEV, $"bdev '{baseName}' holds no lvol store to import");
        }
        if (!found)
        {
            return LvolStore.CreateNew(baseName, pool, cluster, clear, out store);
        }
        if ((rc = LvolStore.Import(baseName, out store)) != 0)
        {
            return rc;
        }
        if (store!.Name != pool)
        {
            string actual = store.Name;
            store.Unload(destroy: false, null);
            store = null;
            return LastError.Set(Errno.EINVAL, $"bdev '{baseName}' holds lvol store '{actual}', not '{pool}'");
        }
        return 0;
    }

    private static int Examined(string pool, string mode, string baseName, ref LvolStore? store)
    {
        string actual = store!.Name;
        if (mode is "create" or "purge")
        {
            store = null;
            return LastError.Set(mode == "create" ? Errno.EEXIST : Errno.EBUSY,
                $"bdev '{baseName}' holds lvol store '{actual}', which is loaded (mode={mode}): unload it first");
        }
        if (actual != pool)
        {
            store = null;
            return LastError.Set(Errno.EINVAL, $"bdev '{baseName}' holds lvol store '{actual}', not '{pool}'");
        }
        return 0;
    }

    /// <summary>disk=: bdev:///NAME (or loopback:///NAME) names a bdev that exists; any other URI is
    /// created here, and the store owns what it made.</summary>
    private static int ResolveDisk(string disk, out string? baseName, out bool owns)
    {
        baseName = null;
        owns = false;
        int rc = BdevUri.Parse(disk, out BdevUri? uri);
        if (rc != 0)
        {
            return rc;
        }
        if (uri!.Scheme is "bdev" or "loopback")
        {
            baseName = uri.Name;
            return 0;
        }
        if ((rc = BdevFactory.Create(disk, out baseName)) != 0)
        {
            return rc;
        }
        owns = true;
        return 0;
    }

    /// <summary>A size in bytes, or with a K, M, G or T suffix (powers of 1024); absent is 0.</summary>
    public static int ParseSize(string? text, out ulong bytes)
    {
        bytes = 0;
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }
        ulong mult = 1;
        char last = char.ToUpperInvariant(text[^1]);
        int shift = last switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        string digits = shift != 0 ? text[..^1] : text;
        mult <<= shift;
        if (!ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) ||
            n > ulong.MaxValue / mult)
        {
            return LastError.Set(Errno.EINVAL, $"size '{text}' is not a number of bytes (with K, M, G or T)");
        }
        bytes = n * mult;
        return 0;
    }
}
