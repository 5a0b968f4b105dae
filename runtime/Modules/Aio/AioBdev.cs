using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Aio;

/// <summary>A file or block device driven by Linux native AIO.</summary>
internal sealed unsafe class AioBdev : Bdev.Bdev
{
    internal readonly BackingFile File;

    public AioBdev(BackingFile file)
        : base(file.Name, "aio", file.BlockSize, file.BlockCount)
    {
        File = file;
        Uuid = file.Uuid;
        ProductName = file.IsBlockDevice ? "AIO block device" : "AIO file";
        RequiredAlignment = file.Alignment;
        WriteCache = !file.Direct;
    }

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Reset => true,
        BdevIoType.Write or BdevIoType.Flush => !File.ReadOnly,
        _ => false,
    };

    public override string DescribeDriver() =>
        $"path={File.Path} direct={File.Direct} block_device={File.IsBlockDevice}";

    public override void DataExtent(ulong offsetBytes, out ulong start, out ulong end) =>
        File.DataExtent(offsetBytes, out start, out end);

    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer) =>
        BdevConfig.Entry(writer, "bdev_aio_create", w =>
        {
            w.WriteString("name", Name);
            w.WriteNumber("block_size", BlockSize);
            w.WriteString("filename", File.Path);
            w.WriteBoolean("readonly", File.ReadOnly);
            w.WriteString("uuid", Uuid.ToString());
        });

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        var ch = new AioChannel(this);
        if (ch.Init() != 0)
        {
            ch.Destroy();
            return null;
        }
        return ch;
    }

    public override void Destruct() => File.Dispose();
}
