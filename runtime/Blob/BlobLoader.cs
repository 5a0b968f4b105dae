using System;
using System.Collections.Generic;
using System.Linq;
using NativeBdev.Interop;

namespace NativeBdev.Blob;

/// <summary>Loads one blob as SPDK's blob_load does: its chain from the blob id's page along
/// <c>next</c> (each page's CRC holding, its id the blob's, its sequence number its place in the
/// chain, each page marked used), then, with an extent table, the extent pages it lists.</summary>
internal static class BlobLoader
{
    public static BlobRecord Load(IBlobDevice device, BlobSuperBlock super, BlobBitMask usedPages,
        BlobBitMask usedClusters, ulong id)
    {
        var parser = new BlobDescriptorParser(super.TotalClusters, usedClusters, super.MdLength, replay: false);
        var chain = new List<uint>();
        var seen = new HashSet<uint>();
        var page = new byte[BlobFormat.PageSize];
        uint index = BlobFormat.BlobIdToPage(id);
        string blob = $"blob 0x{id:x}";
        while (true)
        {
            if (!seen.Add(index))
            {
                throw new BlobFormatError(-Errno.EILSEQ, $"{blob}: the next chain loops back to page {index}");
            }
            string where = $"{blob} page {index}";
            BlobStoreImage.ReadMdPage(device, super, index, page);
            Check(BlobFormat.CrcHolds(page), where, "the CRC-32C does not match");
            Check(usedPages[index], where, "the page is not marked in the used page mask");
            Check(BlobStoreImage.PageId(page) == id, where, $"the page's id is 0x{BlobStoreImage.PageId(page):x}");
            Check(BlobStoreImage.PageSequence(page) == (uint)chain.Count, where,
                $"sequence {BlobStoreImage.PageSequence(page)}, expected {chain.Count}");
            chain.Add(index);
            parser.ParsePage(page, where);
            uint next = BlobStoreImage.PageNext(page);
            if (next == BlobFormat.InvalidPage)
            {
                break;
            }
            index = next;
        }
        uint[] extentPages = [];
        if (parser.TableFound)
        {
            extentPages = [.. parser.ExtentPages.Where(p => p != 0)];
            LoadExtentPages(device, super, usedPages, parser, page, blob);
        }
        BlobRecord record = parser.Build(id, chain.ToArray());
        return extentPages.Length == 0 ? record : new BlobRecord(record, extentPages);
    }

    private static void LoadExtentPages(IBlobDevice device, BlobSuperBlock super, BlobBitMask usedPages,
        BlobDescriptorParser parser, byte[] page, string blob)
    {
        // The table is complete once the chain is read; copy it since parsing appends clusters, not pages.
        uint[] extentPages = [.. parser.ExtentPages];
        foreach (uint index in extentPages)
        {
            if (index == 0)
            {
                parser.AddUnallocatedExtentPage();
                continue;
            }
            string where = $"{blob} extent page {index}";
            BlobStoreImage.ReadMdPage(device, super, index, page);
            if (!BlobReplay.IsExtentPage(page, out string why))
            {
                throw new BlobFormatError(-Errno.EILSEQ, $"{where}: {why}");
            }
            Check(usedPages[index], where, "the page is not marked in the used page mask");
            parser.ParsePage(page, where);
        }
        // Clusters past the last extent page are unallocated: only a thin blob may have them.
        Check(parser.RemainingInTable == 0 || (parser.InvalidFlags & BlobFormat.ThinProvisioned) != 0, blob,
            $"the extent pages leave {parser.RemainingInTable} clusters of the table unmapped in a thick blob");
        while (parser.RemainingInTable != 0)
        {
            parser.AddUnallocatedExtentPage();
        }
    }

    private static void Check(bool ok, string where, string message)
    {
        if (!ok)
        {
            throw new BlobFormatError(-Errno.EILSEQ, where + ": " + message);
        }
    }
}
