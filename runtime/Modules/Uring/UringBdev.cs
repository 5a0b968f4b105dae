using NativeBdev.Bdev;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Uring;

internal sealed unsafe class UringBdev : Bdev.Bdev
{
    internal readonly BackingFile File;
    internal readonly bool SqPoll;
    private readonly bool _unmap, _zeroes;

    public UringBdev(BackingFile file, bool sqpoll)
        : base(file.Name, "uring", file.BlockSize, file.BlockCount)
    {
        File = file;
        SqPoll = sqpoll;
        Uuid = file.Uuid;
        ProductName = file.IsBlockDevice ? "io_uring block device" : "io_uring file";
        RequiredAlignment = file.Alignment;
        WriteCache = !file.Direct;
        _unmap = file.SupportsFallocate(IoUringAbi.FALLOC_FL_PUNCH_HOLE);
        _zeroes = file.SupportsFallocate(IoUringAbi.FALLOC_FL_ZERO_RANGE);
    }

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Reset => true,
        BdevIoType.Write or BdevIoType.Flush => !File.ReadOnly,
        BdevIoType.Unmap => _unmap,
        BdevIoType.WriteZeroes => _zeroes,
        _ => false,
    };

    public override string DescribeDriver() =>
        $"path={File.Path} direct={File.Direct} sqpoll={SqPoll} block_device={File.IsBlockDevice}";

    public override void DataExtent(ulong offsetBytes, out ulong start, out ulong end) =>
        File.DataExtent(offsetBytes, out start, out end);

    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer) =>
        BdevConfig.Entry(writer, "bdev_uring_create", w =>
        {
            w.WriteString("name", Name);
            w.WriteNumber("block_size", BlockSize);
            w.WriteString("filename", File.Path);
            w.WriteString("uuid", Uuid.ToString());
        });

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        var ch = new UringChannel(this);
        if (ch.Init() != 0)
        {
            ch.Destroy();
            return null;
        }
        return ch;
    }

    public override void Destruct() => File.Dispose();
}
