using System.Collections.Generic;

namespace NativeBdev.Modules.Lvol;

/// <summary>One problem the checker found: its class (one of <see cref="LvolCheckKind"/>, what tools
/// and tests match on) and a sentence naming the page, cluster or blob.</summary>
internal readonly record struct LvolCheckFinding(string Kind, string Message);

/// <summary>The classes of problem <see cref="LvolStoreChecker"/> names. Each is a separate thing
/// that can be wrong on disk; one damaged structure may show as more than one (a page whose CRC
/// fails also leaves its clusters named by no blob).</summary>
internal static class LvolCheckKind
{
    public const string SuperBlock = "super_block";
    public const string SuperBlockCrc = "super_block_crc";
    public const string StoreType = "store_type";
    public const string MaskFormat = "mask_format";
    public const string Replay = "replay";
    public const string PageCrc = "page_crc";
    public const string PageChain = "page_chain";
    public const string PageOwnedTwice = "page_owned_twice";
    public const string PageNotMarked = "page_not_marked";
    public const string PageLeaked = "page_leaked";
    public const string ExtentPage = "extent_page";
    public const string BlobMetadata = "blob_metadata";
    public const string BlobIdStale = "blob_id_stale";
    public const string BlobIdNotMarked = "blob_id_not_marked";
    public const string ClusterOwnedTwice = "cluster_owned_twice";
    public const string ClusterNotMarked = "cluster_not_marked";
    public const string ClusterLeaked = "cluster_leaked";
    public const string ParentMissing = "parent_missing";
    public const string ParentCycle = "parent_cycle";
    public const string ParentWritable = "parent_writable";
    public const string SuperBlob = "super_blob";
    public const string LvolXattr = "lvol_xattr";
    public const string LvolNameTwice = "lvol_name_twice";
}

/// <summary>What a check of one store found: the problems, and what it looked at.</summary>
internal sealed class LvolCheckReport
{
    private readonly List<LvolCheckFinding> _findings = [];

    public IReadOnlyList<LvolCheckFinding> Findings => _findings;

    /// <summary>The super block said clean: its masks were compared with the blobs. A store that was not
    /// closed cleanly has stale masks by design; they are rebuilt by replay and the replayed ones compared.</summary>
    public bool Clean { get; set; }

    /// <summary>Blobs whose metadata loaded (the super blob included).</summary>
    public int Blobs { get; set; }

    public long Clusters { get; set; }

    /// <summary>Clusters owned by the metadata or a blob.</summary>
    public long OwnedClusters { get; set; }

    public void Add(string kind, string message) => _findings.Add(new LvolCheckFinding(kind, message));
}
