using System;
using NativeBdev.Bdev;
using NativeBdev.Env;

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

internal sealed unsafe class NullBdev : Bdev.Bdev
{
    public NullBdev(string name, uint blockSize, ulong blocks, Guid uuid)
        : base(name, "null", blockSize, blocks)
    {
        Uuid = uuid;
        ProductName = "Null disk";
    }

    public override bool IoTypeSupported(BdevIoType type) => type is BdevIoType.Read or BdevIoType.Write
        or BdevIoType.Unmap or BdevIoType.Flush or BdevIoType.Reset or BdevIoType.WriteZeroes;

    public override BdevModuleChannel? CreateChannel(BdevChannel channel) => new NullChannel();

    public override void Destruct()
    {
    }

    protected override int ResizeBackend(ulong newBlockCount) => 0;

    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer) =>
        BdevConfig.SizedDevice(writer, "bdev_null_create", this);

    private sealed class NullChannel : BdevModuleChannel
    {
        public override void Submit(BdevChannel channel, BdevIo* io) => channel.Complete(io, 0);

        public override void Destroy()
        {
        }
    }
}
