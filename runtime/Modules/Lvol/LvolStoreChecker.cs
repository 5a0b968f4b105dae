using System;
using System.Collections.Generic;
using NativeBdev.Blob;

namespace NativeBdev.Modules.Lvol;

/// <summary>Verifies an lvol store offline, as a file system checker does, and says everything it
/// finds instead of stopping at the first fault as an import must: the super block and its CRC,
/// every metadata page a blob uses (CRC, id, sequence, the chain along <c>next</c>), the extent
/// pages, the three masks against what the blobs use (pages, clusters, ids), that no cluster or page
/// has two owners, that each clone's parent exists and the parent chains end, and the lvol xattrs.
/// It reads only the metadata part of the device; a store that was not closed cleanly has stale masks
/// by design and is checked against the masks its replay rebuilds.</summary>
internal sealed class LvolStoreChecker
{
    private const int NoOwner = -1;
    private const int MetadataOwner = -2;

    private readonly IBlobDevice _device;
    private readonly BlobSuperBlock _super;
    private readonly LvolCheckReport _report;
    private readonly List<BlobRecord> _blobs = [];
    private readonly int[] _pageOwner; // index into _walked, per md page
    private readonly List<ulong> _walked = []; // blob ids whose chain was walked, loaded or not
    private readonly byte[] _page = new byte[BlobFormat.PageSize];
    private BlobBitMask? _pages, _clusters, _ids;

    private LvolStoreChecker(IBlobDevice device, BlobSuperBlock super, LvolCheckReport report)
    {
        _device = device;
        _super = super;
        _report = report;
        _pageOwner = new int[super.MdLength];
        Array.Fill(_pageOwner, NoOwner);
    }

    public static LvolCheckReport Check(IBlobDevice device)
    {
        var report = new LvolCheckReport();
        BlobSuperBlock? super = ReadSuper(device, report);
        if (super != null)
        {
            new LvolStoreChecker(device, super, report).Run();
        }
        return report;
    }

    private static BlobSuperBlock? ReadSuper(IBlobDevice device, LvolCheckReport report)
    {
        var page = new byte[BlobFormat.PageSize];
        if (!device.TryRead(0, page))
        {
            report.Add(LvolCheckKind.SuperBlock, $"the device ({device.Length} bytes) is too small for a super block");
            return null;
        }
        if (!page.AsSpan(0, 8).SequenceEqual("SPDKBLOB"u8))
        {
            report.Add(LvolCheckKind.SuperBlock, "the signature is not \"SPDKBLOB\": no blobstore here");
            return null;
        }
        if (!BlobFormat.CrcHolds(page))
        {
            report.Add(LvolCheckKind.SuperBlockCrc, "the super block's CRC-32C at 4092 does not match");
            return null;
        }
        try
        {
            return BlobSuperBlock.Parse(page, device.Length);
        }
        catch (BlobFormatError e)
        {
            report.Add(LvolCheckKind.SuperBlock, e.Message);
            return null;
        }
    }

    private void Run()
    {
        _report.Clusters = (long)_super.TotalClusters;
        if (_super.BsType != "LVOLSTORE")
        {
            _report.Add(LvolCheckKind.StoreType, $"the blobstore type is \"{_super.BsType}\", not \"LVOLSTORE\"");
        }
        ReadMasks();
        for (uint i = 0; i < _super.MdLength; i++)
        {
            if (_ids != null ? _ids[i] : LooksLikeFirstPage(i))
            {
                WalkBlob(i);
            }
        }
        CheckUnmarkedBlobs();
        CheckPageMask();
        CheckClusters();
        _report.Blobs = _blobs.Count;
        LvolCheckParents.Check(_blobs, _report);
        CheckLvolXattrs();
    }

    private void ReadMasks()
    {
        _report.Clean = _super.Clean && _super.UsedBlobIdMaskLength != 0;
        if (!_report.Clean)
        {
            try
            {
                (_pages, _clusters, _ids) = BlobReplay.Run(_device, _super);
            }
            catch (BlobFormatError e)
            {
                _report.Add(LvolCheckKind.Replay,
                    "the store was not closed cleanly and its replay fails: " + e.Message);
            }
            return;
        }
        long total = (long)_super.TotalClusters;
        _pages = ReadMask(_super.UsedPageMaskStart, _super.UsedPageMaskLength, BlobFormat.MaskUsedPages,
            "used page", _super.MdLength);
        _clusters = ReadMask(_super.UsedClusterMaskStart, _super.UsedClusterMaskLength, BlobFormat.MaskUsedClusters,
            "used cluster", total);
        _ids = ReadMask(_super.UsedBlobIdMaskStart, _super.UsedBlobIdMaskLength, BlobFormat.MaskUsedBlobIds,
            "used blob id", _super.MdLength);
    }

    private BlobBitMask? ReadMask(uint start, uint length, byte type, string what, long bits)
    {
        var region = new byte[(long)length * BlobFormat.PageSize];
        if (!_device.TryRead((long)start * BlobFormat.PageSize, region))
        {
            _report.Add(LvolCheckKind.MaskFormat, $"{what} mask: pages {start}+{length} cannot be read");
            return null;
        }
        try
        {
            return BlobBitMask.Parse(region, type, what, bits, bits);
        }
        catch (BlobFormatError e)
        {
            _report.Add(LvolCheckKind.MaskFormat, e.Message + " (not compared)");
            return null;
        }
    }

    private bool ReadPage(uint index)
    {
        try
        {
            BlobStoreImage.ReadMdPage(_device, _super, index, _page);
            return true;
        }
        catch (BlobFormatError)
        {
            Array.Clear(_page);
            return false;
        }
    }

    /// <summary>What replay takes for the start of a blob: CRC good, sequence 0, its own index's id.</summary>
    private bool LooksLikeFirstPage(uint index) =>
        ReadPage(index) && BlobFormat.CrcHolds(_page) && BlobStoreImage.PageSequence(_page) == 0 &&
        BlobStoreImage.PageId(_page) == BlobFormat.PageToBlobId(index);

    /// <summary>Loads one blob as the import does, saying what breaks it; a blob that loads is added.</summary>
    private void WalkBlob(uint start)
    {
        ulong id = BlobFormat.PageToBlobId(start);
        int owner = _walked.Count;
        _walked.Add(id);
        string blob = $"blob 0x{id:x}";
        var parser = new BlobDescriptorParser(_super.TotalClusters, null, _super.MdLength, replay: false);
        var chain = new List<uint>();
        var seen = new HashSet<uint>();
        for (uint index = start; ;)
        {
            string where = $"{blob} page {index}";
            if (!seen.Add(index))
            {
                _report.Add(LvolCheckKind.PageChain, $"{blob}: the next chain loops back to page {index}");
                return;
            }
            if (index >= _super.MdLength || !ReadPage(index))
            {
                _report.Add(LvolCheckKind.PageChain,
                    $"{blob}: its chain names page {index}, past the metadata region ({_super.MdLength} pages)");
                return;
            }
            if (!PageHolds(where, id, (uint)chain.Count, index == start))
            {
                return;
            }
            Claim(index, owner, where);
            chain.Add(index);
            if (!Parse(parser, where))
            {
                return;
            }
            index = BlobStoreImage.PageNext(_page);
            if (index == BlobFormat.InvalidPage)
            {
                break;
            }
        }
        if (parser.TableFound && !LoadExtentPages(parser, owner, blob))
        {
            return;
        }
        _blobs.Add(parser.Build(id, chain.ToArray()));
    }

    private bool PageHolds(string where, ulong id, uint sequence, bool first)
    {
        if (first && _page.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            _report.Add(LvolCheckKind.BlobIdStale, $"{where}: the blob id is marked used but its first page is blank");
            return false;
        }
        if (!BlobFormat.CrcHolds(_page))
        {
            _report.Add(LvolCheckKind.PageCrc, $"{where}: the CRC-32C does not match");
            return false;
        }
        ulong pageId = BlobStoreImage.PageId(_page);
        uint pageSequence = BlobStoreImage.PageSequence(_page);
        if (pageId != id || pageSequence != sequence)
        {
            _report.Add(first ? LvolCheckKind.BlobIdStale : LvolCheckKind.PageChain,
                $"{where}: the page belongs to blob 0x{pageId:x} as its page {pageSequence}, " +
                $"expected page {sequence} of this blob");
            return false;
        }
        return true;
    }

    private bool Parse(BlobDescriptorParser parser, string where)
    {
        try
        {
            parser.ParsePage(_page, where);
            return true;
        }
        catch (BlobFormatError e)
        {
            _report.Add(LvolCheckKind.BlobMetadata, e.Message);
            return false;
        }
    }

    private void Claim(uint index, int owner, string where)
    {
        if (_pageOwner[index] != NoOwner && _pageOwner[index] != owner)
        {
            _report.Add(LvolCheckKind.PageOwnedTwice,
                $"{where}: the page is also in the metadata of blob 0x{_walked[_pageOwner[index]]:x}");
            return;
        }
        _pageOwner[index] = owner;
    }

    /// <summary>The extent pages an extent table lists, in order, as BlobLoader reads them.</summary>
    private bool LoadExtentPages(BlobDescriptorParser parser, int owner, string blob)
    {
        uint[] extentPages = [.. parser.ExtentPages];
        foreach (uint index in extentPages)
        {
            if (index == 0)
            {
                parser.AddUnallocatedExtentPage();
                continue;
            }
            string where = $"{blob} extent page {index}";
            ReadPage(index);
            if (!BlobReplay.IsExtentPage(_page, out string why))
            {
                bool crc = !BlobFormat.CrcHolds(_page);
                _report.Add(crc ? LvolCheckKind.PageCrc : LvolCheckKind.ExtentPage, $"{where}: {why}");
                return false;
            }
            Claim(index, owner, where);
            if (!Parse(parser, where))
            {
                return false;
            }
        }
        if (parser.RemainingInTable != 0 && (parser.InvalidFlags & BlobFormat.ThinProvisioned) == 0)
        {
            _report.Add(LvolCheckKind.BlobMetadata,
                $"{blob}: the extent pages leave {parser.RemainingInTable} clusters unmapped in a thick blob");
            return false;
        }
        while (parser.RemainingInTable != 0)
        {
            parser.AddUnallocatedExtentPage();
        }
        return true;
    }

    /// <summary>A page that starts a blob (replay would bring it back) but whose id the mask does not mark.</summary>
    private void CheckUnmarkedBlobs()
    {
        if (_ids == null)
        {
            return;
        }
        for (uint i = 0; i < _super.MdLength; i++)
        {
            if (!_ids[i] && _pageOwner[i] == NoOwner && LooksLikeFirstPage(i))
            {
                _report.Add(LvolCheckKind.BlobIdNotMarked, $"page {i} starts blob 0x{BlobFormat.PageToBlobId(i):x}, " +
                    "whose id the used blob id mask does not mark (a replay would bring it back)");
            }
        }
    }

    private void CheckPageMask()
    {
        if (_pages == null)
        {
            return;
        }
        ReportRanges(_super.MdLength, i => _pageOwner[i] != NoOwner && !_pages[i], LvolCheckKind.PageNotMarked,
            "metadata page", "in use by a blob but not marked in the used page mask");
        ReportRanges(_super.MdLength, i => _pageOwner[i] == NoOwner && _pages[i], LvolCheckKind.PageLeaked,
            "metadata page", "marked in the used page mask but in no blob's metadata");
    }

    private void CheckClusters()
    {
        long total = (long)_super.TotalClusters;
        var owner = new int[total];
        Array.Fill(owner, NoOwner);
        long md = total - (long)_super.TotalDataClusters;
        Array.Fill(owner, MetadataOwner, 0, (int)md);
        for (int b = 0; b < _blobs.Count; b++)
        {
            uint[] map = _blobs[b].Clusters;
            for (int l = 0; l < map.Length; l++)
            {
                uint c = map[l];
                if (c == 0)
                {
                    continue;
                }
                if (owner[c] >= 0 && UnfinishedSnapshotOf(_blobs[b], _blobs[owner[c]]))
                {
                    continue; // what a crash inside a snapshot leaves: the next import drops the snapshot
                }
                if (owner[c] != NoOwner)
                {
                    string other = owner[c] == MetadataOwner ? "the metadata" : $"blob 0x{_blobs[owner[c]].Id:x}";
                    _report.Add(LvolCheckKind.ClusterOwnedTwice,
                        $"cluster {c} is logical cluster {l} of blob 0x{_blobs[b].Id:x} and also held by {other}");
                    continue;
                }
                owner[c] = b;
            }
        }
        long owned = 0;
        foreach (int o in owner)
        {
            owned += o != NoOwner ? 1 : 0;
        }
        _report.OwnedClusters = owned;
        if (_clusters != null)
        {
            ReportRanges(total, c => owner[c] != NoOwner && !_clusters[c], LvolCheckKind.ClusterNotMarked,
                "cluster", "in use (by a blob or the metadata) but not marked in the used cluster mask");
            ReportRanges(total, c => owner[c] == NoOwner && _clusters[c], LvolCheckKind.ClusterLeaked,
                "cluster", "marked in the used cluster mask but held by no blob");
        }
    }

    /// <summary>Whether one of the two is a snapshot still marked in progress (SNAPTMP) for the other, which
    /// does not name it as its parent: the snapshot's write made it, the volume's did not, so both
    /// name the volume's clusters; an import drops such a snapshot. Likewise a snapshot marked
    /// pending removal (SNAPRM) whose clone no longer names it: the clone took its clusters.</summary>
    private static bool UnfinishedSnapshotOf(BlobRecord a, BlobRecord b)
    {
        static bool Marked(BlobRecord snap, BlobRecord volume, string mark) =>
            snap.InternalXattrs.TryGetValue(mark, out byte[]? v) && v.Length == 8 &&
            BitConverter.ToUInt64(v) == volume.Id && volume.ParentId != snap.Id;
        // SNAPRM: a snapshot being deleted whose clone took its clusters; an import finishes it
        static bool Pending(BlobRecord snap, BlobRecord volume) =>
            Marked(snap, volume, LvolStore.SnapshotInProgress) ||
            Marked(snap, volume, LvolStore.SnapshotPendingRemoval);
        return Pending(a, b) || Pending(b, a);
    }

    /// <summary>One finding per run of consecutive indices for which <paramref name="wrong"/> holds.</summary>
    private void ReportRanges(long count, Func<long, bool> wrong, string kind, string what, string why)
    {
        for (long i = 0; i < count; i++)
        {
            if (!wrong(i))
            {
                continue;
            }
            long end = i;
            while (end + 1 < count && wrong(end + 1))
            {
                end++;
            }
            _report.Add(kind, end == i ? $"{what} {i} is {why}" : $"{what}s {i}..{end} are {why}");
            i = end;
        }
    }

    private void CheckLvolXattrs()
    {
        if (_super.BsType != "LVOLSTORE")
        {
            return;
        }
        BlobRecord? superBlob = _blobs.Find(b => b.Id == _super.SuperBlobId);
        if (superBlob == null)
        {
            _report.Add(LvolCheckKind.SuperBlob, $"the super blob 0x{_super.SuperBlobId:x} did not load");
        }
        else if (superBlob.XattrString("name") is null || superBlob.XattrString("uuid") is null)
        {
            _report.Add(LvolCheckKind.SuperBlob, "the super blob has no \"name\" or no \"uuid\" xattr");
        }
        var names = new Dictionary<string, ulong>();
        foreach (BlobRecord b in _blobs)
        {
            if (b.Id == _super.SuperBlobId)
            {
                continue;
            }
            string? name = b.XattrString("name");
            if (name is null || b.XattrString("uuid") is null)
            {
                _report.Add(LvolCheckKind.LvolXattr, $"blob 0x{b.Id:x} has no \"name\" or no \"uuid\" xattr");
            }
            else if (!names.TryAdd(name, b.Id))
            {
                _report.Add(LvolCheckKind.LvolNameTwice,
                    $"blobs 0x{names[name]:x} and 0x{b.Id:x} are both volumes named \"{name}\"");
            }
        }
    }
}
