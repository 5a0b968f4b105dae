using System;
using NativeBdev.Bdev;

namespace NativeBdev.Modules.Null;

/// <summary>null:///name?size_mb=|num_blocks=|size=&amp;blk_size=&amp;uuid= — a device that
/// stores nothing: reads leave the buffer as it is, writes go nowhere. Measures the
/// framework's own per-I/O cost (SPDK's bdev_null).</summary>
internal sealed class NullModule : IBdevModule
{
    public string Name => "null";
    public ReadOnlySpan<string> Schemes => new[] { "null" };

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        int rc = BdevGeometry.ParseSizedDevice(uri, out string n, out uint bs, out ulong blocks, out Guid uuid);
        if (rc != 0)
        {
            return rc;
        }
        var bdev = new NullBdev(n, bs, blocks, uuid);
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            return rc;
        }
        name = n;
        return 0;
    }
}
