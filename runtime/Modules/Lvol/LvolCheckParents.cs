using System.Collections.Generic;
using NativeBdev.Blob;

namespace NativeBdev.Modules.Lvol;

/// <summary>The checker's look at clone relations: each internal xattr <c>SNAP</c> is a u64 naming
/// a blob that loaded, that blob is read-only (a snapshot's data never changes under its clones),
/// and following parents from any blob ends (a loop would make a read resolve forever).</summary>
internal static class LvolCheckParents
{
    public static void Check(IReadOnlyList<BlobRecord> blobs, LvolCheckReport report)
    {
        var byId = new Dictionary<ulong, BlobRecord>();
        foreach (BlobRecord b in blobs)
        {
            byId[b.Id] = b;
        }
        foreach (BlobRecord b in blobs)
        {
            if (b.InternalXattrs.TryGetValue("SNAP", out byte[]? v) && v.Length != 8)
            {
                report.Add(LvolCheckKind.BlobMetadata,
                    $"blob 0x{b.Id:x}: the internal xattr SNAP holds {v.Length} bytes, a blob id is 8");
                continue;
            }
            if (b.ParentId is not ulong p)
            {
                continue;
            }
            if (!byId.TryGetValue(p, out BlobRecord? parent))
            {
                report.Add(LvolCheckKind.ParentMissing,
                    $"blob 0x{b.Id:x} is a clone of blob 0x{p:x}, which is not among the blobs that load");
                continue;
            }
            if (!parent.IsReadOnly)
            {
                report.Add(LvolCheckKind.ParentWritable,
                    $"blob 0x{b.Id:x} is a clone of blob 0x{p:x}, which is not read-only");
            }
            if (LoopsBack(b, byId))
            {
                report.Add(LvolCheckKind.ParentCycle,
                    $"following the parents of blob 0x{b.Id:x} (SNAP) comes back to it");
            }
        }
    }

    /// <summary>Whether <paramref name="start"/> is on a loop of parents (each blob of a loop says so
    /// once; a blob whose chain runs into a loop further up is not itself on it).</summary>
    private static bool LoopsBack(BlobRecord start, Dictionary<ulong, BlobRecord> byId)
    {
        var seen = new HashSet<ulong>();
        for (BlobRecord? b = start; b?.ParentId is ulong p && seen.Add(b.Id);)
        {
            if (p == start.Id)
            {
                return true;
            }
            b = byId.GetValueOrDefault(p);
        }
        return false;
    }
}
