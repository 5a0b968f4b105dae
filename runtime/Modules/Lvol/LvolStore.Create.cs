using System;
using System.Buffers.Binary;
using System.Text;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

internal sealed unsafe partial class LvolStore
{
    public const int MaxNameLength = 63; // SPDK_LVS_NAME_MAX and SPDK_LVOL_NAME_MAX hold 64 with the NUL

    /// <summary>Makes a new store on <paramref name="baseName"/> as SPDK's bs_init and lvs_init do:
    /// the super block, then the used-page, used-cluster and used-blob-id masks a page-rounded region
    /// each, then a metadata region of one page per cluster (SPDK's default md ratio of 100 %), all
    /// of it zeroed first so that a replay never finds an older store's pages; the super blob holds
    /// the store's name and a new uuid. The io unit is the base's block size. The data region after
    /// the metadata is cleared with <paramref name="clear"/> as SPDK's bs_init does (unmap by
    /// default; write zeroes; or none, leaving what the base held). 0 or -errno.</summary>
    public static int CreateNew(string baseName, string name, ulong clusterSize, out LvolStore? store) =>
        CreateNew(baseName, name, clusterSize, LvolClearMethod.Unmap, out store);

    public static int CreateNew(string baseName, string name, ulong clusterSize, LvolClearMethod clear,
        out LvolStore? store)
    {
        store = null;
        int rc = CheckName(name, "lvol store");
        if (rc != 0)
        {
            return rc;
        }
        if (Find(name) != null)
        {
            return LastError.Set(Errno.EEXIST, $"an lvol store named '{name}' is loaded already");
        }
        if ((rc = OpenBase(baseName, out BdevDesc? desc, out LightweightThread? owner)) != 0)
        {
            return rc;
        }
        rc = LvolMdIo.Open(desc!, out LvolMdIo? io);
        if (rc == 0)
        {
            rc = Format(desc!, owner!, io!, name, clusterSize, clear, out store);
            io!.Dispose();
        }
        if (rc != 0)
        {
            ReleaseBase(desc!);
            return rc;
        }
        if ((rc = store!.Publish()) != 0)
        {
            int said = LastError.Errno;
            string message = LastError.Message;
            store.Abandon();
            store = null;
            return LastError.Set(said, message);
        }
        return 0;
    }

    public static int CheckName(string name, string what)
    {
        if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > MaxNameLength || name.Contains('/'))
        {
            return LastError.Set(Errno.EINVAL,
                $"{what} name '{name}' must be 1 to {MaxNameLength} bytes without '/'");
        }
        return 0;
    }

    private static int Format(BdevDesc desc, LightweightThread owner, LvolMdIo io, string name, ulong clusterSize,
        LvolClearMethod clear, out LvolStore? store)
    {
        store = null;
        Bdev.Bdev b = desc.Bdev;
        if (clusterSize < BlobFormat.PageSize || clusterSize % BlobFormat.PageSize != 0 || clusterSize > 1UL << 30)
        {
            return LastError.Set(Errno.EINVAL, $"cluster_size {clusterSize}: a multiple of 4096 up to 1 GiB");
        }
        ulong size = b.SizeBytes;
        ulong clusters = size / clusterSize;
        if (clusters > uint.MaxValue)
        {
            return LastError.Set(Errno.E2BIG, $"bdev '{b.Name}' has more than 2^32 clusters of {clusterSize} bytes");
        }
        uint mdLen = (uint)clusters;
        uint pageMaskLen = MaskPages(mdLen), clusterMaskLen = MaskPages(clusters), idMaskLen = MaskPages(mdLen);
        uint pageMaskStart = 1, clusterMaskStart = pageMaskStart + pageMaskLen;
        uint idMaskStart = clusterMaskStart + clusterMaskLen, mdStart = idMaskStart + idMaskLen;
        ulong mdClusters = ((ulong)mdStart + mdLen + (clusterSize / BlobFormat.PageSize) - 1) /
                           (clusterSize / BlobFormat.PageSize);
        if (clusters < 2 || mdClusters >= clusters)
        {
            return LastError.Set(Errno.ENOSPC, $"bdev '{b.Name}' ({size} bytes) is too small for an lvol store " +
                $"of {clusterSize}-byte clusters");
        }
        var page = new byte[BlobFormat.PageSize];
        "SPDKBLOB"u8.CopyTo(page);
        U32(page, 8, BlobFormat.CurrentVersion);
        U32(page, 12, BlobFormat.PageSize);
        U32(page, 16, 0); // dirty while up
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(20), BlobFormat.PageToBlobId(0));
        U32(page, 28, (uint)clusterSize);
        U32(page, 32, pageMaskStart);
        U32(page, 36, pageMaskLen);
        U32(page, 40, clusterMaskStart);
        U32(page, 44, clusterMaskLen);
        U32(page, 48, mdStart);
        U32(page, 52, mdLen);
        "LVOLSTORE"u8.CopyTo(page.AsSpan(56));
        U32(page, 72, idMaskStart);
        U32(page, 76, idMaskLen);
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(80), size);
        U32(page, 88, b.BlockSize);
        U32(page, 92, BlobFormat.PageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(BlobFormat.CrcOffset),
            Crc32c.Compute(page.AsSpan(0, BlobFormat.CrcOffset)));
        BlobSuperBlock super = BlobSuperBlock.Parse(page, (long)size);
        var s = new LvolStore(name, Guid.NewGuid().ToString(), b, desc, owner, page, super,
            new BlobBitMask(mdLen), new BlobBitMask((long)clusters), new BlobBitMask(mdLen));
        for (ulong c = 0; c < mdClusters; c++)
        {
            s.UsedClusters.Set((long)c);
        }
        long mdEnd = ((long)mdStart + mdLen) * BlobFormat.PageSize;
        // zeroed by write zeroes where the base has it (a 16 TiB store has 16 GiB of metadata region)
        int rc = LvolClear.Range(io, b, LvolClearMethod.WriteZeroes, 0, mdEnd);
        if (rc != 0 || (rc = LvolClear.Range(io, b, clear, mdEnd, (long)size - mdEnd)) != 0)
        {
            return rc;
        }
        if ((rc = s.ReserveBlobId(out ulong superId)) != 0)
        {
            return rc;
        }
        var superBlob = new LvolBlob(superId, []) { Pages = [0] };
        superBlob.SetString("uuid", s.Uuid);
        superBlob.SetString("name", name);
        s.Blobs.Add(superId, superBlob);
        s.SuperBlob = superBlob;
        if ((rc = s.Persist(io, superBlob)) != 0 || (rc = s.WriteSuper(io, clean: false)) != 0 ||
            (rc = io.Flush()) != 0)
        {
            return rc;
        }
        store = s;
        return 0;
    }

    /// <summary>Pages a mask of <paramref name="bits"/> bits takes: its 5-byte header and the bits.</summary>
    private static uint MaskPages(ulong bits) =>
        (uint)((BlobFormat.MaskHeader + ((bits + 7) / 8) + BlobFormat.PageSize - 1) / BlobFormat.PageSize);

    private static void U32(byte[] page, int offset, uint value) =>
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(offset), value);
}
