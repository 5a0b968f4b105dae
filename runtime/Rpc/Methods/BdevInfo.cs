using System.Text.Json;
using NativeBdev.Bdev;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Rpc.Methods;

/// <summary>One bdev as SPDK's bdev_get_bdevs describes it (rpc_dump_bdev_info in
/// lib/bdev/bdev_rpc.c), with the same keys and types. memory_domains is left out, as SPDK
/// leaves it out for a bdev that reports none; driver_specific is empty until modules
/// describe themselves as JSON.</summary>
internal static class BdevInfo
{
    /// <summary>SPDK v25.09's supported_io_types keys, in its order, with ours where we have
    /// the type (the others are not supported by any of our bdevs).</summary>
    private static readonly (string Key, BdevIoType Type)[] s_ioTypes =
    [
        ("read", BdevIoType.Read), ("write", BdevIoType.Write), ("unmap", BdevIoType.Unmap),
        ("flush", BdevIoType.Flush), ("reset", BdevIoType.Reset), ("nvme_admin", BdevIoType.NvmeAdmin),
        ("nvme_io", BdevIoType.NvmeIo), ("nvme_io_md", BdevIoType.Invalid),
        ("write_zeroes", BdevIoType.WriteZeroes), ("zcopy", BdevIoType.Invalid),
        ("get_zone_info", BdevIoType.Invalid), ("zone_management", BdevIoType.Invalid),
        ("zone_append", BdevIoType.Invalid), ("compare", BdevIoType.Invalid),
        ("compare_and_write", BdevIoType.Invalid), ("abort", BdevIoType.Invalid),
        ("seek_hole", BdevIoType.Invalid), ("seek_data", BdevIoType.Invalid), ("copy", BdevIoType.Invalid),
        ("nvme_iov_md", BdevIoType.Invalid), ("nvme_nssr", BdevIoType.Invalid),
    ];

    public static void Write(Utf8JsonWriter w, BlockDevice b)
    {
        w.WriteStartObject();
        w.WriteString("name", b.Name);
        w.WriteStartArray("aliases");
        w.WriteEndArray();
        w.WriteString("product_name", b.ProductName);
        w.WriteNumber("block_size", b.BlockSize);
        w.WriteNumber("num_blocks", b.BlockCount);
        w.WriteNumber("preferred_write_alignment", 0);
        w.WriteNumber("preferred_write_granularity", 0);
        w.WriteNumber("optimal_write_size", 0);
        w.WriteNumber("preferred_unmap_alignment", 0);
        w.WriteNumber("preferred_unmap_granularity", 0);
        w.WriteString("uuid", b.Uuid.ToString());
        w.WriteStartObject("assigned_rate_limits");
        w.WriteNumber("rw_ios_per_sec", 0);
        w.WriteNumber("rw_mbytes_per_sec", 0);
        w.WriteNumber("r_mbytes_per_sec", 0);
        w.WriteNumber("w_mbytes_per_sec", 0);
        w.WriteEndObject();
        bool claimed = b.ClaimedBy != null;
        w.WriteBoolean("claimed", claimed);
        if (claimed)
        {
            w.WriteString("claim_type", "exclusive_write");
        }
        w.WriteBoolean("zoned", false);
        w.WriteStartObject("supported_io_types");
        foreach ((string key, BdevIoType type) in s_ioTypes)
        {
            w.WriteBoolean(key, type != BdevIoType.Invalid && b.IoTypeSupported(type));
        }
        w.WriteEndObject();
        if (b.OptimalIoBoundary != 0)
        {
            w.WriteNumber("optimal_io_boundary", b.OptimalIoBoundary);
        }
        w.WriteStartObject("driver_specific");
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
