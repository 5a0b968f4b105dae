using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using NativeBdev.Interop;

namespace NativeBdev.Blob;

/// <summary>Rebuilds the three masks of a store that was not closed cleanly, as SPDK's
/// bs_recover / bs_load_replay_md do: every page of the metadata region not yet claimed is read in
/// order; one whose CRC holds, whose sequence number is 0 and whose id is its own page's blob id
/// starts a blob: its page and id are claimed, and its chain is followed along <c>next</c> while
/// the pages' CRCs hold, each claimed and its extents marked in the cluster mask; then the extent
/// pages its extent table lists, each of which must be a valid extent page. The clusters holding
/// the metadata are marked last. Unlike SPDK, a chain that loops or points past the region is an
/// error rather than a hang or an assertion.</summary>
internal static class BlobReplay
{
    public static (BlobBitMask Pages, BlobBitMask Clusters, BlobBitMask Ids) Run(
        IBlobDevice device, BlobSuperBlock super)
    {
        var pages = new BlobBitMask(super.MdLength);
        var ids = new BlobBitMask(super.MdLength);
        var clusters = new BlobBitMask((long)super.TotalClusters);
        var page = new byte[BlobFormat.PageSize];
        Span<byte> head = stackalloc byte[8];
        long dataStart = 0, dataEnd = 0; // the device's next range that may hold data
        for (uint start = 0; start < super.MdLength; start++)
        {
            long at = ((long)super.MdStart + start) * BlobFormat.PageSize;
            if (at >= dataEnd)
            {
                (dataStart, dataEnd) = device.DataExtent(at);
                if (dataEnd <= at || dataStart < at)
                {
                    (dataStart, dataEnd) = (at, device.Length); // no usable answer: read on
                }
            }
            if (at < dataStart)
            {
                // zeros up to dataStart (a hole of a sparse file): no page there starts a blob
                long skipTo = (dataStart / BlobFormat.PageSize) - super.MdStart;
                if (skipTo >= super.MdLength)
                {
                    break;
                }
                start = (uint)skipTo;
                if (((long)super.MdStart + start) * BlobFormat.PageSize < dataStart)
                {
                    continue; // a page that only begins in the hole: its next one is the first to read
                }
            }
            if (pages[start])
            {
                continue;
            }
            // The id first, alone: almost every page of a big region is zeros (16 GiB of them in a
            // 16 TiB store), and copying each whole and checking its CRC would cost 4 KiB of work.
            BlobStoreImage.ReadMdPage(device, super, start, head);
            if (BinaryPrimitives.ReadUInt64LittleEndian(head) != BlobFormat.PageToBlobId(start))
            {
                continue;
            }
            BlobStoreImage.ReadMdPage(device, super, start, page);
            if (BlobStoreImage.PageSequence(page) != 0 || !BlobFormat.CrcHolds(page))
            {
                continue; // free, stale, or the middle of some chain
            }
            ids.Set(start);
            ReplayChain(device, super, start, page, pages, clusters);
        }
        ulong pagesPerCluster = super.ClusterSize / BlobFormat.PageSize;
        ulong mdClusters = ((ulong)super.MdStart + super.MdLength + pagesPerCluster - 1) / pagesPerCluster;
        for (ulong c = 0; c < mdClusters; c++)
        {
            clusters.Set((long)c);
        }
        return (pages, clusters, ids);
    }

    private static void ReplayChain(IBlobDevice device, BlobSuperBlock super, uint start, byte[] page,
        BlobBitMask pages, BlobBitMask clusters)
    {
        var parser = new BlobDescriptorParser(super.TotalClusters, null, super.MdLength, replay: true);
        var seen = new HashSet<uint>();
        uint index = start;
        while (true)
        {
            string where = $"replay: page {index} (chain of blob 0x{BlobFormat.PageToBlobId(start):x})";
            if (!seen.Add(index))
            {
                throw new BlobFormatError(-Errno.EILSEQ, where + ": the next chain loops");
            }
            pages.Set(index);
            parser.ParsePage(page, where);
            uint next = BlobStoreImage.PageNext(page);
            if (next == BlobFormat.InvalidPage)
            {
                break;
            }
            BlobStoreImage.ReadMdPage(device, super, next, page);
            if (!BlobFormat.CrcHolds(page))
            {
                break; // SPDK ends the chain at a page that is not valid
            }
            index = next;
        }
        foreach (uint ep in parser.ExtentPages)
        {
            if (ep == 0)
            {
                continue;
            }
            string where = $"replay: extent page {ep} (blob 0x{BlobFormat.PageToBlobId(start):x})";
            BlobStoreImage.ReadMdPage(device, super, ep, page);
            if (!IsExtentPage(page, out string why))
            {
                throw new BlobFormatError(-Errno.EILSEQ, where + ": " + why);
            }
            pages.Set(ep);
            parser.ParsePage(page, where);
        }
        foreach (uint c in parser.Clusters)
        {
            clusters.Set(c); // 0 (unallocated) is cluster 0, which the metadata holds anyway
        }
    }

    /// <summary>SPDK's bs_load_cur_extent_page_valid: CRC, sequence 0, one EXTENT_PAGE descriptor
    /// that fits the page and nothing after it, and no next page.</summary>
    public static bool IsExtentPage(ReadOnlySpan<byte> page, out string why)
    {
        why = "";
        ReadOnlySpan<byte> area = page.Slice(BlobFormat.DescriptorsOffset, BlobFormat.DescriptorsLength);
        long length = BinaryPrimitives.ReadUInt32LittleEndian(area[1..]) + (long)BlobFormat.DescriptorHeader;
        if (!BlobFormat.CrcHolds(page))
        {
            why = "the CRC-32C does not match";
        }
        else if (BlobStoreImage.PageSequence(page) != 0)
        {
            why = $"sequence {BlobStoreImage.PageSequence(page)}, an extent page has 0";
        }
        else if (area[0] != BlobFormat.DescExtentPage)
        {
            why = $"descriptor type {area[0]}, an extent page holds one EXTENT_PAGE";
        }
        else if (length > area.Length)
        {
            why = $"the EXTENT_PAGE descriptor ({length} bytes) is longer than the page";
        }
        else if (length + BlobFormat.DescriptorHeader <= area.Length &&
                 BinaryPrimitives.ReadUInt32LittleEndian(area[(int)(length + 1)..]) != 0)
        {
            why = "a second descriptor follows the EXTENT_PAGE";
        }
        else if (BlobStoreImage.PageNext(page) != BlobFormat.InvalidPage)
        {
            why = "an extent page has a next page";
        }
        return why.Length == 0;
    }
}
