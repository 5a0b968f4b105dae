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
    public string LvolName { get; }

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Write => true,
        BdevIoType.Flush => Store.Base.IoTypeSupported(BdevIoType.Flush),
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

    public override void Destruct() => Store.VolumeGone(this);
}
