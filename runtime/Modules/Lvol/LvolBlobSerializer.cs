using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>A blob as metadata pages (SPDK's blob_serialize): FLAGS, the xattrs, the internal
/// xattrs, then the cluster map as EXTENT_RLE runs (a run of device clusters c, c+1, ... or of
/// unallocated ones), each descriptor whole inside a page, a page per 4072 bytes of descriptors.
/// The cluster map is always written as EXTENT_RLE, which SPDK loads as well as an extent table
/// (the EXTENT_TABLE flag is cleared accordingly); INTERNAL_XATTR is set exactly when the blob has
/// internal xattrs, so that a version that does not know them refuses the blob, as SPDK does.</summary>
internal static class LvolBlobSerializer
{
    private const int RunBytes = 8;

    /// <summary>The descriptor areas of the blob's pages, in chain order, with <paramref name="clusters"/>
    /// as its map (the allocator writes a map before it publishes it); -ENOSPC (LastError set) for an
    /// xattr that cannot fit a page.</summary>
    public static int Serialize(LvolBlob blob, uint[] clusters, out List<byte[]> areas)
    {
        areas = [new byte[BlobFormat.DescriptorsLength]];
        int at = 0;
        ulong invalid = blob.InvalidFlags & ~BlobFormat.ExtentTable & ~BlobFormat.InternalXattr;
        if (blob.InternalXattrs.Count > 0)
        {
            invalid |= BlobFormat.InternalXattr;
        }
        Span<byte> flags = stackalloc byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(flags, invalid);
        BinaryPrimitives.WriteUInt64LittleEndian(flags[8..], blob.DataRoFlags);
        BinaryPrimitives.WriteUInt64LittleEndian(flags[16..], blob.MdRoFlags);
        Put(areas, ref at, BlobFormat.DescFlags, flags);
        foreach (var (type, list) in new[] { (BlobFormat.DescXattr, blob.Xattrs),
                     (BlobFormat.DescXattrInternal, blob.InternalXattrs) })
        {
            foreach (var (name, value) in list)
            {
                byte[] n = Encoding.UTF8.GetBytes(name);
                int len = 4 + n.Length + value.Length;
                if (len > BlobFormat.DescriptorsLength - BlobFormat.DescriptorHeader || n.Length > ushort.MaxValue)
                {
                    return LastError.Set(Errno.ENOSPC, $"xattr '{name}' ({value.Length} bytes) does not fit a page");
                }
                var body = new byte[len];
                BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)n.Length);
                BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(2), (ushort)value.Length);
                n.CopyTo(body, 4);
                value.CopyTo(body, 4 + n.Length);
                Put(areas, ref at, type, body);
            }
        }
        PutExtents(areas, ref at, clusters);
        return 0;
    }

    private static void PutExtents(List<byte[]> areas, ref int at, uint[] clusters)
    {
        var runs = new List<(uint First, uint Count)>();
        for (int i = 0; i < clusters.Length;)
        {
            uint first = clusters[i];
            int j = i + 1;
            while (j < clusters.Length && (first == 0 ? clusters[j] == 0 : clusters[j] == first + (uint)(j - i)))
            {
                j++;
            }
            runs.Add((first, (uint)(j - i)));
            i = j;
        }
        for (int r = 0; r < runs.Count;)
        {
            int room = (BlobFormat.DescriptorsLength - at - BlobFormat.DescriptorHeader) / RunBytes;
            if (room < 1)
            {
                NewPage(areas, ref at);
                continue;
            }
            int n = Math.Min(room, runs.Count - r);
            var body = new byte[n * RunBytes];
            for (int k = 0; k < n; k++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(k * RunBytes), runs[r + k].First);
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan((k * RunBytes) + 4), runs[r + k].Count);
            }
            Put(areas, ref at, BlobFormat.DescExtentRle, body);
            r += n;
        }
    }

    private static void Put(List<byte[]> areas, ref int at, byte type, ReadOnlySpan<byte> body)
    {
        if (at + BlobFormat.DescriptorHeader + body.Length > BlobFormat.DescriptorsLength)
        {
            NewPage(areas, ref at);
        }
        Span<byte> area = areas[^1].AsSpan(at);
        area[0] = type;
        BinaryPrimitives.WriteUInt32LittleEndian(area[1..], (uint)body.Length);
        body.CopyTo(area[BlobFormat.DescriptorHeader..]);
        at += BlobFormat.DescriptorHeader + body.Length;
    }

    private static void NewPage(List<byte[]> areas, ref int at)
    {
        areas.Add(new byte[BlobFormat.DescriptorsLength]);
        at = 0;
    }

    /// <summary>A whole metadata page: id, sequence, the descriptor area, next, CRC-32C.</summary>
    public static byte[] Page(ulong id, uint sequence, byte[] area, uint next)
    {
        var page = new byte[BlobFormat.PageSize];
        BinaryPrimitives.WriteUInt64LittleEndian(page, id);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(BlobFormat.PageSequenceOffset), sequence);
        area.CopyTo(page, BlobFormat.DescriptorsOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(BlobFormat.PageNextOffset), next);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(BlobFormat.CrcOffset),
            Crc32c.Compute(page.AsSpan(0, BlobFormat.CrcOffset)));
        return page;
    }
}
