using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>SPDK's clear methods, with the values of its <c>enum blob_clear_method</c> (a volume's is
/// kept in the low two bits of its blob's md_ro flags, as SPDK keeps it, so it survives a reload
/// in either implementation). Default reads as unmap wherever something is cleared.</summary>
internal enum LvolClearMethod
{
    Default = 0,
    None = 1,
    Unmap = 2,
    WriteZeroes = 3,
}

/// <summary>Clearing data on an lvol store's base as SPDK's blobstore does it: at a store's creation
/// (its clear method over the whole data region: unmap by default) and when clusters leave a
/// volume that is deleted or shrunk (the volume's clear method, before they are free for another
/// volume, so a thick volume that gets them later does not read the old data). Unmap on a base
/// that has none is nothing (SPDK: the blobstore does not rely on unmap zeroing); write zeroes on
/// a base that has none is written zeros (SPDK's bdev layer emulates it the same way).</summary>
internal static class LvolClear
{
    /// <summary>One clearing I/O covers at most this much: a bounded request for any backend.</summary>
    public const long ChunkBytes = 1L << 30;

    /// <summary>Parses SPDK's RPC and URI spelling (none, unmap, write_zeroes; any case); absent is
    /// <paramref name="absent"/>. -EINVAL (with nb_last_error) for anything else.</summary>
    public static int Parse(string? text, LvolClearMethod absent, out LvolClearMethod method)
    {
        method = absent;
        if (text == null)
        {
            return 0;
        }
        switch (text.ToLowerInvariant())
        {
            case "none":
                method = LvolClearMethod.None;
                return 0;
            case "unmap":
                method = LvolClearMethod.Unmap;
                return 0;
            case "write_zeroes":
                method = LvolClearMethod.WriteZeroes;
                return 0;
            default:
                return LastError.Set(Errno.EINVAL, $"clear_method '{text}': expected none, unmap or write_zeroes");
        }
    }

    public static string Name(LvolClearMethod m) => m switch
    {
        LvolClearMethod.None => "none",
        LvolClearMethod.WriteZeroes => "write_zeroes",
        _ => "unmap",
    };

    /// <summary>A blob's clear method from its md_ro flags.</summary>
    public static LvolClearMethod Of(LvolBlob blob) => (LvolClearMethod)(blob.MdRoFlags & BlobFormat.ClearMethodMask);

    /// <summary>Stores <paramref name="m"/> in <paramref name="blob"/>'s md_ro flags (the other bits kept).</summary>
    public static void Set(LvolBlob blob, LvolClearMethod m) =>
        blob.MdRoFlags = (blob.MdRoFlags & ~BlobFormat.ClearMethodMask) | (ulong)m;

    /// <summary>Clears <paramref name="bytes"/> at byte <paramref name="offset"/> of the base with
    /// <paramref name="m"/>, in chunks of at most <see cref="ChunkBytes"/>. 0 or -errno.</summary>
    public static int Range(LvolMdIo io, Bdev.Bdev b, LvolClearMethod m, long offset, long bytes)
    {
        if (m == LvolClearMethod.None || bytes <= 0)
        {
            return 0;
        }
        BdevIoType type = m == LvolClearMethod.WriteZeroes ? BdevIoType.WriteZeroes : BdevIoType.Unmap;
        if (!b.IoTypeSupported(type))
        {
            return type == BdevIoType.Unmap ? 0 : io.Zero(offset, bytes);
        }
        for (long done = 0; done < bytes;)
        {
            long n = System.Math.Min(ChunkBytes, bytes - done);
            int rc = io.Discard(type, offset + done, n);
            if (rc != 0)
            {
                return rc;
            }
            done += n;
        }
        return 0;
    }

    /// <summary>Clears device clusters <paramref name="devices"/> (sorted here; runs of neighbours
    /// are one request, as SPDK's blob_persist_clear_clusters batches them).</summary>
    public static int Clusters(LvolStore store, LvolMdIo io, List<uint> devices, LvolClearMethod m)
    {
        if (m == LvolClearMethod.None || devices.Count == 0)
        {
            return 0;
        }
        devices.Sort();
        long cs = (long)store.ClusterSize;
        for (int i = 0; i < devices.Count;)
        {
            int j = i + 1;
            while (j < devices.Count && devices[j] == devices[j - 1] + 1)
            {
                j++;
            }
            int rc = Range(io, store.Base, m, devices[i] * cs, (j - i) * cs);
            if (rc != 0)
            {
                return rc;
            }
            i = j;
        }
        return 0;
    }
}
