using System.Collections.Generic;
using NativeBdev.Blob;

namespace NativeBdev.Modules.Lvol;

/// <summary>The writes that persist one blob's metadata, in the order that keeps a crash harmless
/// (SPDK's blob_persist): the chain's other pages go to pages that were free, then the first page
/// (the blob id's) is overwritten in place, which switches the blob from its old chain to its new
/// one in one page write. Only then are the old chain's other pages and its extent pages given back
/// (<see cref="Commit"/>); before that the old chain is intact on disk. A replay after a crash
/// finds either the old first page or the new one, each naming a complete chain.</summary>
internal sealed class LvolMdPlan(LvolBlob blob)
{
    public LvolBlob Blob { get; } = blob;

    /// <summary>(byte offset on the base, one 4 KiB page), in write order.</summary>
    public List<(long Offset, byte[] Page)> Writes { get; } = [];

    /// <summary>The new chain, [0] unchanged.</summary>
    public uint[] Chain { get; set; } = [];

    /// <summary>Pages reserved for the new chain (freed again if the writes fail).</summary>
    public List<uint> Reserved { get; } = [];

    /// <summary>The old chain's other pages and the extent pages: free once the writes are done.</summary>
    public List<uint> FreeAfter { get; } = [];

    public void Commit(BlobBitMask usedPages)
    {
        foreach (uint p in FreeAfter)
        {
            usedPages.Clear(p);
        }
        Blob.Pages = Chain;
        Blob.ExtentPages = [];
    }

    public void Abort(BlobBitMask usedPages)
    {
        foreach (uint p in Reserved)
        {
            usedPages.Clear(p);
        }
    }
}
