namespace NativeBdev.Blob;

/// <summary>One logical volume of an lvol store: a blob with the xattrs <c>name</c> and
/// <c>uuid</c> (lib/lvol/lvol.c). A snapshot is a volume some clone names as its parent.</summary>
internal sealed class LvolImage(BlobRecord blob, string name, string uuid, ulong clusterSize)
{
    public BlobRecord Blob { get; } = blob;
    public string Name { get; } = name;
    public string Uuid { get; } = uuid;
    public ulong SizeBytes { get; } = (ulong)blob.Clusters.Length * clusterSize;
    public bool IsThin => Blob.IsThin;
    public bool IsReadOnly => Blob.IsReadOnly;
    public bool IsClone => Blob.ParentId is not null;
    public bool IsSnapshot { get; internal set; }
    public LvolImage? Parent { get; internal set; }
}
