using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;
using NativeBdev.Interop;

namespace NativeBdev.Blob;

/// <summary>Walks the descriptors of a blob's metadata pages and accumulates what they say (SPDK's
/// blob_parse_page): flags, xattrs, extents (EXTENT_RLE) or the extent table and its extent pages.
/// Every length is checked against the page before it is read; a cluster index must lie inside
/// the store and, when a used-cluster mask is given, be marked used. In replay mode (a store that
/// was not closed cleanly) there is no mask yet and a zero cluster is accepted whatever the flags.</summary>
internal sealed class BlobDescriptorParser(ulong totalClusters, BlobBitMask? usedClusters, uint mdLength, bool replay)
{
    /// <summary>A bound on one blob's clusters (2^26: 256 TiB at 4 MiB clusters), so a corrupt run
    /// length cannot make the parser allocate gigabytes.</summary>
    public const long MaxClusters = 1L << 26;

    private readonly List<uint> _clusters = [];
    private readonly List<uint> _extentPages = []; // 0 = an unallocated extent page (thin)
    private readonly Dictionary<string, byte[]> _xattrs = [];
    private readonly Dictionary<string, byte[]> _internal = [];
    private bool _rleFound;
    private bool _tableFound;
    private ulong _remainingInTable;

    public ulong InvalidFlags { get; private set; }
    public ulong DataRoFlags { get; private set; }
    public ulong MdRoFlags { get; private set; }
    public bool TableFound => _tableFound;
    public IReadOnlyList<uint> ExtentPages => _extentPages;
    public ulong RemainingInTable => _remainingInTable;
    public IReadOnlyList<uint> Clusters => _clusters;

    /// <summary>Parses one page's descriptor area; <paramref name="where"/> names the page in messages.</summary>
    public void ParsePage(ReadOnlySpan<byte> page, string where)
    {
        ReadOnlySpan<byte> area = page.Slice(BlobFormat.DescriptorsOffset, BlobFormat.DescriptorsLength);
        int cur = 0;
        while (cur + BlobFormat.DescriptorHeader <= area.Length)
        {
            byte type = area[cur];
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(area[(cur + 1)..]);
            if (type == BlobFormat.DescPadding && length == 0)
            {
                break;
            }
            int start = cur + BlobFormat.DescriptorHeader;
            if (length > (uint)(area.Length - start))
            {
                Fail(where, $"descriptor type {type} at {cur} has length {length}, past the end of the page");
            }
            ReadOnlySpan<byte> body = area.Slice(start, (int)length);
            switch (type)
            {
                case BlobFormat.DescFlags:
                    Flags(body, where);
                    break;
                case BlobFormat.DescExtentRle:
                    ExtentRle(body, where);
                    break;
                case BlobFormat.DescExtentTable:
                    ExtentTable(body, where);
                    break;
                case BlobFormat.DescExtentPage:
                    ExtentPage(body, where);
                    break;
                case BlobFormat.DescXattr:
                    Xattr(body, where, _xattrs);
                    break;
                case BlobFormat.DescXattrInternal:
                    Xattr(body, where, _internal);
                    break;
                default:
                    if (replay && type != BlobFormat.DescPadding)
                    {
                        Fail(where, $"unknown descriptor type {type}"); // as SPDK's replay
                    }
                    break; // a clean load skips unknown descriptors, as SPDK does
            }
            cur = start + (int)length;
        }
    }

    /// <summary>Adds the clusters of an extent page the table lists as unallocated (thin blobs).</summary>
    public void AddUnallocatedExtentPage()
    {
        ulong n = Math.Min(_remainingInTable, BlobFormat.ExtentsPerPage);
        Grow(n, "extent table");
        for (ulong i = 0; i < n; i++)
        {
            _clusters.Add(0);
        }
        _remainingInTable -= n;
    }

    public BlobRecord Build(ulong id, uint[] pages) =>
        new(id, pages, InvalidFlags, DataRoFlags, MdRoFlags, _xattrs, _internal, _clusters.ToArray());

    private void Flags(ReadOnlySpan<byte> body, string where)
    {
        if (body.Length != 24)
        {
            Fail(where, $"FLAGS descriptor of length {body.Length}, expected 24");
        }
        ulong invalid = BinaryPrimitives.ReadUInt64LittleEndian(body);
        if ((invalid & ~BlobFormat.InvalidFlagsMask) != 0)
        {
            Fail(where, $"invalid_flags 0x{invalid:x} has bits this version does not know: the blob cannot be opened");
        }
        InvalidFlags = invalid;
        DataRoFlags = BinaryPrimitives.ReadUInt64LittleEndian(body[8..]);
        MdRoFlags = BinaryPrimitives.ReadUInt64LittleEndian(body[16..]);
    }

    private void ExtentRle(ReadOnlySpan<byte> body, string where)
    {
        if (_tableFound)
        {
            Fail(where, "EXTENT_RLE and EXTENT_TABLE in one blob");
        }
        _rleFound = true;
        if (body.Length == 0 || body.Length % 8 != 0)
        {
            Fail(where, $"EXTENT_RLE of length {body.Length}, not a positive multiple of 8");
        }
        for (int i = 0; i < body.Length; i += 8)
        {
            uint first = BinaryPrimitives.ReadUInt32LittleEndian(body[i..]);
            uint run = BinaryPrimitives.ReadUInt32LittleEndian(body[(i + 4)..]);
            Grow(run, where);
            for (uint j = 0; j < run; j++)
            {
                AddCluster(first == 0 ? 0 : (ulong)first + j, where);
            }
        }
    }

    private void ExtentTable(ReadOnlySpan<byte> body, string where)
    {
        if (_rleFound)
        {
            Fail(where, "EXTENT_TABLE and EXTENT_RLE in one blob");
        }
        if (body.Length < 8 || (body.Length - 8) % 8 != 0)
        {
            Fail(where, $"EXTENT_TABLE of length {body.Length}, not 8 plus a multiple of 8");
        }
        ulong numClusters = BinaryPrimitives.ReadUInt64LittleEndian(body);
        if (_tableFound && numClusters != _remainingInTable)
        {
            Fail(where, $"a second EXTENT_TABLE says {numClusters} clusters, the first {_remainingInTable}");
        }
        if (numClusters > MaxClusters)
        {
            Fail(where, $"EXTENT_TABLE of {numClusters} clusters, more than {MaxClusters}");
        }
        _tableFound = true;
        _remainingInTable = numClusters;
        for (int i = 8; i < body.Length; i += 8)
        {
            uint pageIndex = BinaryPrimitives.ReadUInt32LittleEndian(body[i..]);
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(body[(i + 4)..]);
            if (pageIndex != 0 && count != 1)
            {
                Fail(where, $"EXTENT_TABLE entry for page {pageIndex} counts {count} pages, expected 1");
            }
            if (pageIndex >= mdLength)
            {
                Fail(where, $"EXTENT_TABLE names page {pageIndex}, past the metadata region ({mdLength} pages)");
            }
            if (_extentPages.Count + (long)count > MaxClusters / BlobFormat.ExtentsPerPage + 1)
            {
                Fail(where, $"EXTENT_TABLE lists more extent pages than {MaxClusters} clusters need");
            }
            for (uint k = 0; k < count; k++)
            {
                _extentPages.Add(pageIndex);
            }
        }
    }

    private void ExtentPage(ReadOnlySpan<byte> body, string where)
    {
        if (_rleFound)
        {
            Fail(where, "EXTENT_PAGE in a blob with EXTENT_RLE");
        }
        if (body.Length <= 4 || (body.Length - 4) % 4 != 0)
        {
            Fail(where, $"EXTENT_PAGE of length {body.Length}, not 4 plus a positive multiple of 4");
        }
        uint startCluster = BinaryPrimitives.ReadUInt32LittleEndian(body);
        int count = (body.Length - 4) / 4;
        if (!replay)
        {
            if (startCluster != (uint)_clusters.Count)
            {
                Fail(where, $"EXTENT_PAGE starts at cluster {startCluster}, the blob has {_clusters.Count} so far");
            }
            if ((ulong)count > _remainingInTable)
            {
                Fail(where, $"EXTENT_PAGE holds {count} clusters, the extent table leaves {_remainingInTable}");
            }
            _remainingInTable -= (ulong)count;
        }
        Grow((ulong)count, where);
        for (int i = 0; i < count; i++)
        {
            AddCluster(BinaryPrimitives.ReadUInt32LittleEndian(body[(4 + (i * 4))..]), where);
        }
    }

    private static void Xattr(ReadOnlySpan<byte> body, string where, Dictionary<string, byte[]> into)
    {
        if (body.Length < 4)
        {
            Fail(where, $"XATTR descriptor of length {body.Length}, shorter than its 4-byte header");
        }
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(body);
        int valueLength = BinaryPrimitives.ReadUInt16LittleEndian(body[2..]);
        if (body.Length != 4 + nameLength + valueLength)
        {
            Fail(where, $"XATTR of length {body.Length} holds a {nameLength}-byte name and a {valueLength}-byte value");
        }
        string name = Encoding.UTF8.GetString(body.Slice(4, nameLength));
        // A repeated name: the first wins, as spdk_blob_get_xattr_value finds it.
        into.TryAdd(name, body.Slice(4 + nameLength, valueLength).ToArray());
    }

    private void AddCluster(ulong index, string where)
    {
        if (index == 0)
        {
            if (!replay && (InvalidFlags & BlobFormat.ThinProvisioned) == 0)
            {
                Fail(where, $"logical cluster {_clusters.Count} is unallocated in a blob that is not thin");
            }
        }
        else if (index >= totalClusters)
        {
            Fail(where, $"cluster {index} is beyond the device ({totalClusters} clusters)");
        }
        else if (usedClusters is not null && !usedClusters[(long)index])
        {
            Fail(where, $"cluster {index} is not marked in the used-cluster mask");
        }
        _clusters.Add((uint)index);
    }

    private void Grow(ulong more, string where)
    {
        if ((ulong)_clusters.Count + more > MaxClusters)
        {
            Fail(where, $"the blob would have more than {MaxClusters} clusters");
        }
    }

    private static void Fail(string where, string message) =>
        throw new BlobFormatError(-Errno.EILSEQ, where + ": " + message);
}
