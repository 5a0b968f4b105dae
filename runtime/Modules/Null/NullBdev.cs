using System;
using NativeBdev.Bdev;

namespace NativeBdev.Modules.Null;

internal sealed unsafe class NullBdev : Bdev.Bdev
{
    public NullBdev(string name, uint blockSize, ulong blocks, Guid uuid)
        : base(name, "null", blockSize, blocks)
    {
        Uuid = uuid;
        ProductName = "Null disk";
        StartsBlank = true;
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
