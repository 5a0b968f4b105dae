using System;
using System.Buffers.Binary;
using System.Text;
using NativeBdev.Interop;

namespace NativeBdev.Blob;

/// <summary>Page 0 of a blobstore (struct spdk_bs_super_block, 4 KiB, packed). Regions are in
/// 4 KiB pages from the start of the device; <see cref="Size"/> 0 on disk means the device's size,
/// io_unit_size and md_page_size 0 mean 4096 (as bs_parse_super reads them).</summary>
internal sealed class BlobSuperBlock
{
    public uint Version { get; private init; }
    public uint Length { get; private init; }
    public bool Clean { get; private init; }
    public ulong SuperBlobId { get; private init; }
    public uint ClusterSize { get; private init; }
    public uint UsedPageMaskStart { get; private init; }
    public uint UsedPageMaskLength { get; private init; }
    public uint UsedClusterMaskStart { get; private init; }
    public uint UsedClusterMaskLength { get; private init; }
    public uint MdStart { get; private init; }
    public uint MdLength { get; private init; }
    /// <summary>The 16-byte type up to its first NUL: "LVOLSTORE" for an lvol store.</summary>
    public string BsType { get; private init; } = "";
    public uint UsedBlobIdMaskStart { get; private init; }
    public uint UsedBlobIdMaskLength { get; private init; }
    public ulong Size { get; private init; }
    public uint IoUnitSize { get; private init; }
    public uint MdPageSize { get; private init; }

    public ulong TotalClusters => Size / ClusterSize;

    /// <summary>Clusters left after the ones the metadata occupies (what SPDK reports as
    /// total_data_clusters).</summary>
    public ulong TotalDataClusters
    {
        get
        {
            ulong pagesPerCluster = ClusterSize / BlobFormat.PageSize;
            ulong mdClusters = ((ulong)MdStart + MdLength + pagesPerCluster - 1) / pagesPerCluster;
            return TotalClusters - mdClusters;
        }
    }

    /// <summary>Parses and validates page 0 as bs_super_validate and bs_parse_super do, and also
    /// checks what SPDK assumes: the regions lie inside the device and cluster sizes are sane.</summary>
    public static BlobSuperBlock Parse(ReadOnlySpan<byte> page, long deviceBytes)
    {
        if (page.Length < BlobFormat.PageSize)
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"super block: {page.Length} bytes, a page is 4096");
        }
        if (!page[..8].SequenceEqual("SPDKBLOB"u8))
        {
            throw new BlobFormatError(-Errno.EILSEQ, "super block: the signature is not \"SPDKBLOB\"");
        }
        uint version = U32(page, 8);
        if (version < BlobFormat.InitialVersion || version > BlobFormat.CurrentVersion)
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"super block: version {version}, this reads 1..3");
        }
        if (!BlobFormat.CrcHolds(page))
        {
            throw new BlobFormatError(-Errno.EILSEQ, "super block: the CRC-32C at 4092 does not match");
        }
        ReadOnlySpan<byte> type = page.Slice(56, 16);
        int nul = type.IndexOf((byte)0);
        var sb = new BlobSuperBlock
        {
            Version = version,
            Length = U32(page, 12),
            Clean = U32(page, 16) != 0,
            SuperBlobId = BinaryPrimitives.ReadUInt64LittleEndian(page[20..]),
            ClusterSize = U32(page, 28),
            UsedPageMaskStart = U32(page, 32),
            UsedPageMaskLength = U32(page, 36),
            UsedClusterMaskStart = U32(page, 40),
            UsedClusterMaskLength = U32(page, 44),
            MdStart = U32(page, 48),
            MdLength = U32(page, 52),
            BsType = Encoding.ASCII.GetString(nul < 0 ? type : type[..nul]),
            UsedBlobIdMaskStart = U32(page, 72),
            UsedBlobIdMaskLength = U32(page, 76),
            Size = BinaryPrimitives.ReadUInt64LittleEndian(page[80..]) is ulong s and not 0 ? s : (ulong)deviceBytes,
            IoUnitSize = U32(page, 88) is uint io and not 0 ? io : BlobFormat.PageSize,
            MdPageSize = U32(page, 92) is uint md and not 0 ? md : BlobFormat.PageSize,
        };
        sb.Validate(deviceBytes);
        return sb;
    }

    private void Validate(long deviceBytes)
    {
        if (Size > (ulong)deviceBytes)
        {
            Fail($"size {Size} is larger than the device ({deviceBytes} bytes)");
        }
        if (MdPageSize != BlobFormat.PageSize)
        {
            Fail($"md_page_size {MdPageSize}: only 4096-byte metadata pages are read");
        }
        if (ClusterSize < BlobFormat.PageSize || ClusterSize % BlobFormat.PageSize != 0)
        {
            Fail($"cluster_size {ClusterSize} is not a multiple of 4096");
        }
        if (IoUnitSize < 512 || IoUnitSize > BlobFormat.PageSize || BlobFormat.PageSize % IoUnitSize != 0)
        {
            Fail($"io_unit_size {IoUnitSize} does not divide 4096");
        }
        ulong pages = Size / BlobFormat.PageSize;
        CheckRegion("metadata region", MdStart, MdLength, pages);
        CheckRegion("used page mask", UsedPageMaskStart, UsedPageMaskLength, pages);
        CheckRegion("used cluster mask", UsedClusterMaskStart, UsedClusterMaskLength, pages);
        CheckRegion("used blob id mask", UsedBlobIdMaskStart, UsedBlobIdMaskLength, pages);
        if (MdLength == 0)
        {
            Fail("the metadata region is empty (md_len 0)");
        }
        ulong pagesPerCluster = ClusterSize / BlobFormat.PageSize;
        if (((ulong)MdStart + MdLength + pagesPerCluster - 1) / pagesPerCluster > TotalClusters)
        {
            Fail($"the metadata (pages 0..{(ulong)MdStart + MdLength}) needs more than the store's " +
                $"{TotalClusters} clusters");
        }
    }

    private static void CheckRegion(string what, uint start, uint length, ulong pages)
    {
        if ((ulong)start + length > pages)
        {
            Fail($"{what} (pages {start}+{length}) goes past the end of the store ({pages} pages)");
        }
    }

    private static void Fail(string message) => throw new BlobFormatError(-Errno.EINVAL, "super block: " + message);

    private static uint U32(ReadOnlySpan<byte> p, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(p[offset..]);
}
