using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>One logical volume as a bdev: named <c>LVS/LVOL</c> (SPDK's alias of an lvol bdev),
/// with the volume's UUID, the store's io unit as its block size and its clusters as its size.</summary>
internal sealed class LvolBdev : Bdev.Bdev
{
    public LvolBdev(LvolStore store, LvolBlob blob, string lvolName, Guid uuid)
        : base(store.Name + "/" + lvolName, "lvol", store.IoUnitSize,
            (ulong)blob.Clusters.Length * store.ClusterSize / store.IoUnitSize)
    {
        Store = store;
        Blob = blob;
        LvolName = lvolName;
        Uuid = uuid;
        ProductName = "Logical Volume";
        RequiredAlignment = store.Base.RequiredAlignment;
        NeedsDmaBuffers = store.Base.NeedsDmaBuffers;
        OptimalIoBoundary = (uint)(store.ClusterSize / store.IoUnitSize);
    }

    public LvolStore Store { get; }
    public LvolBlob Blob { get; }
    /// <summary>The volume's name in its store (its name xattr). A rename changes it and the
    /// metadata; the bdev keeps the name it was registered with until the store is imported again.</summary>
    public string LvolName { get; set; }

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Write => true,
        BdevIoType.Flush => Store.Base.IoTypeSupported(BdevIoType.Flush),
        // the parts of clusters that stay the volume's are zeroed on the base
        BdevIoType.Unmap or BdevIoType.WriteZeroes => Store.Base.IoTypeSupported(BdevIoType.WriteZeroes),
        _ => false,
    };

    public override string DescribeDriver() =>
        $"lvol_store={Store.Name} blob_id=0x{Blob.Id:x} thin={Blob.IsThin} " +
        $"allocated_clusters={Blob.AllocatedClusters}";

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        BdevDesc desc = Store.Desc;
        if (desc.Closed)
        {
            LastError.Set(Errno.ENODEV, $"lvol store '{Store.Name}': base bdev '{Store.Base.Name}' is closed");
            return null;
        }
        if (IoChannel.Get(Store.Base.IoDevice, out IoChannel? baseChannel) != 0)
        {
            return null;
        }
        return new LvolChannel(this, desc, baseChannel!);
    }

    /// <summary>The store has written the new size (LvolVolumes.Resize) before the layer calls this.</summary>
    protected override int ResizeBackend(ulong newBlockCount) =>
        newBlockCount * BlockSize == (ulong)Blob.Clusters.Length * Store.ClusterSize ? 0
            : LastError.Set(Errno.EINVAL, $"volume '{Name}' is resized through its lvol store (bdev_lvol_resize)");

    public override void Destruct() => Store.VolumeGone(this);
}
