using System;
using System.Collections.Generic;
using System.Text;

namespace NativeBdev.Blob;

/// <summary>One blob assembled from its metadata chain (and extent pages): flags, xattrs and the
/// cluster map. <see cref="Clusters"/>[i] is the device cluster holding logical cluster i, 0 where
/// nothing is allocated (cluster 0 always holds the super block, so 0 is free to mean that).</summary>
internal sealed class BlobRecord
{
    public BlobRecord(ulong id, uint[] pages, ulong invalidFlags, ulong dataRoFlags, ulong mdRoFlags,
        IReadOnlyDictionary<string, byte[]> xattrs, IReadOnlyDictionary<string, byte[]> internalXattrs,
        uint[] clusters)
    {
        Id = id;
        Pages = pages;
        InvalidFlags = invalidFlags;
        DataRoFlags = dataRoFlags;
        MdRoFlags = mdRoFlags;
        Xattrs = xattrs;
        InternalXattrs = internalXattrs;
        Clusters = clusters;
        foreach (uint c in clusters)
        {
            AllocatedClusters += c != 0 ? 1 : 0;
        }
    }

    /// <summary><paramref name="other"/> with the extent pages its table listed.</summary>
    public BlobRecord(BlobRecord other, uint[] extentPages)
        : this(other.Id, other.Pages, other.InvalidFlags, other.DataRoFlags, other.MdRoFlags, other.Xattrs,
            other.InternalXattrs, other.Clusters)
    {
        ExtentPages = extentPages;
    }

    public ulong Id { get; }

    /// <summary>The metadata pages of the chain, first (the blob id's page) to last, as md-region indices.</summary>
    public uint[] Pages { get; }

    public ulong InvalidFlags { get; }
    public ulong DataRoFlags { get; }
    public ulong MdRoFlags { get; }
    public IReadOnlyDictionary<string, byte[]> Xattrs { get; }
    public IReadOnlyDictionary<string, byte[]> InternalXattrs { get; }
    public uint[] Clusters { get; }
    public long AllocatedClusters { get; }

    /// <summary>The md-region pages of the extent pages its extent table lists (allocated ones
    /// only): a writer that re-serializes the blob gives them back once they are unreferenced.</summary>
    public uint[] ExtentPages { get; init; } = [];

    public bool IsThin => (InvalidFlags & BlobFormat.ThinProvisioned) != 0;

    /// <summary>data_ro as SPDK derives it: the READ_ONLY bit, or a data_ro bit this version does not know.</summary>
    public bool IsReadOnly => DataRoFlags != 0;

    public bool UsesExtentTable => (InvalidFlags & BlobFormat.ExtentTable) != 0;

    /// <summary>The blob this one is a clone of (internal xattr "SNAP", a u64 blob id), if any.</summary>
    public ulong? ParentId =>
        InternalXattrs.TryGetValue("SNAP", out byte[]? v) && v.Length == 8 ? BitConverter.ToUInt64(v) : null;

    /// <summary>An xattr as the C string SPDK stores (the value up to its NUL), or null.</summary>
    public string? XattrString(string name)
    {
        if (!Xattrs.TryGetValue(name, out byte[]? v))
        {
            return null;
        }
        int nul = Array.IndexOf(v, (byte)0);
        return Encoding.UTF8.GetString(v, 0, nul < 0 ? v.Length : nul);
    }
}
