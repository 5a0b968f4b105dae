using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using NativeBdev.Interop;

namespace NativeBdev.Blob;

/// <summary>A blobstore read from a device: the super block, the three masks (read from disk for a
/// clean store, rebuilt by <see cref="BlobReplay"/> for one that was not closed cleanly) and every
/// blob the used-blob-id mask names. Read-only: this is the format, not the running store.</summary>
internal sealed class BlobStoreImage
{
    private BlobStoreImage(BlobSuperBlock super, BlobBitMask pages, BlobBitMask clusters, BlobBitMask ids,
        bool replayed, Dictionary<ulong, BlobRecord> blobs)
    {
        Super = super;
        UsedPages = pages;
        UsedClusters = clusters;
        UsedBlobIds = ids;
        Replayed = replayed;
        Blobs = blobs;
    }

    public BlobSuperBlock Super { get; }
    public BlobBitMask UsedPages { get; }
    public BlobBitMask UsedClusters { get; }
    public BlobBitMask UsedBlobIds { get; }

    /// <summary>True when the masks were rebuilt from the metadata region (clean == 0 or no blob id mask).</summary>
    public bool Replayed { get; }

    public IReadOnlyDictionary<ulong, BlobRecord> Blobs { get; }

    public long FreeClusters => UsedClusters.Bits - UsedClusters.CountSet();

    /// <summary>Reads a store. Returns 0, or a negative errno with <paramref name="error"/> saying
    /// what is wrong; no exception leaves (malformed input is an answer here, not a bug).</summary>
    public static int Load(IBlobDevice device, out BlobStoreImage? image, out string error)
    {
        image = null;
        error = "";
        try
        {
            image = LoadOrThrow(device);
            return 0;
        }
        catch (BlobFormatError e)
        {
            error = e.Message;
            return e.Errno;
        }
    }

    /// <summary>The device cluster holding logical cluster <paramref name="index"/> of a blob: its own, or
    /// else its parent's (the SNAP chain of clones), or 0 when no blob of the chain has it (reads as zeros).</summary>
    public uint ResolveCluster(BlobRecord blob, long index)
    {
        BlobRecord? b = blob;
        for (int depth = 0; b is not null && depth <= Blobs.Count; depth++)
        {
            if (index < b.Clusters.Length && b.Clusters[index] != 0)
            {
                return b.Clusters[index];
            }
            b = b.ParentId is ulong p && Blobs.TryGetValue(p, out BlobRecord? parent) ? parent : null;
        }
        return 0;
    }

    private static BlobStoreImage LoadOrThrow(IBlobDevice device)
    {
        var page = new byte[BlobFormat.PageSize];
        if (!device.TryRead(0, page))
        {
            throw new BlobFormatError(-Errno.EILSEQ,
                $"the device ({device.Length} bytes) is too small for a super block");
        }
        BlobSuperBlock super = BlobSuperBlock.Parse(page, device.Length);
        long total = (long)super.TotalClusters;
        BlobBitMask pages, clusters, ids;
        bool replayed = super.UsedBlobIdMaskLength == 0 || !super.Clean;
        if (replayed)
        {
            (pages, clusters, ids) = BlobReplay.Run(device, super);
        }
        else
        {
            pages = BlobBitMask.Parse(ReadRegion(device, super.UsedPageMaskStart, super.UsedPageMaskLength),
                BlobFormat.MaskUsedPages, "used page", super.MdLength, super.MdLength);
            clusters = BlobBitMask.Parse(ReadRegion(device, super.UsedClusterMaskStart, super.UsedClusterMaskLength),
                BlobFormat.MaskUsedClusters, "used cluster", total, total);
            ids = BlobBitMask.Parse(ReadRegion(device, super.UsedBlobIdMaskStart, super.UsedBlobIdMaskLength),
                BlobFormat.MaskUsedBlobIds, "used blob id", super.MdLength, super.MdLength);
        }
        var blobs = new Dictionary<ulong, BlobRecord>();
        for (uint i = 0; i < super.MdLength; i++)
        {
            if (ids[i])
            {
                BlobRecord blob = BlobLoader.Load(device, super, pages, clusters, BlobFormat.PageToBlobId(i));
                blobs.Add(blob.Id, blob);
            }
        }
        if (!blobs.ContainsKey(super.SuperBlobId))
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"the super blob 0x{super.SuperBlobId:x} is not among the blobs");
        }
        return new BlobStoreImage(super, pages, clusters, ids, replayed, blobs);
    }

    private static byte[] ReadRegion(IBlobDevice device, uint startPage, uint lengthPages)
    {
        var bytes = new byte[(long)lengthPages * BlobFormat.PageSize];
        if (!device.TryRead((long)startPage * BlobFormat.PageSize, bytes))
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"pages {startPage}+{lengthPages} are past the end of the device");
        }
        return bytes;
    }

    /// <summary>Reads metadata page <paramref name="index"/> of the md region into <paramref name="page"/>.</summary>
    public static void ReadMdPage(IBlobDevice device, BlobSuperBlock super, uint index, Span<byte> page)
    {
        if (index >= super.MdLength)
        {
            throw new BlobFormatError(-Errno.EILSEQ,
                $"metadata page {index} is past the region ({super.MdLength} pages)");
        }
        if (!device.TryRead(((long)super.MdStart + index) * BlobFormat.PageSize, page))
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"metadata page {index} is past the end of the device");
        }
    }

    public static ulong PageId(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt64LittleEndian(page);

    public static uint PageSequence(ReadOnlySpan<byte> page) =>
        BinaryPrimitives.ReadUInt32LittleEndian(page[BlobFormat.PageSequenceOffset..]);

    public static uint PageNext(ReadOnlySpan<byte> page) =>
        BinaryPrimitives.ReadUInt32LittleEndian(page[BlobFormat.PageNextOffset..]);
}
