using NativeBdev.Bdev;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Uring;

/// <summary>How a uring bdev unmaps (the decision is <see cref="UringBdev.ChooseUnmap"/>).</summary>
internal enum UringUnmap
{
    None,      // not advertised
    PunchHole, // IORING_OP_FALLOCATE, FALLOC_FL_PUNCH_HOLE | KEEP_SIZE
    Discard,   // IORING_OP_URING_CMD, BLOCK_URING_CMD_DISCARD (what the BLKDISCARD ioctl does)
}

internal sealed unsafe class UringBdev : Bdev.Bdev
{
    internal readonly BackingFile File;
    internal readonly bool SqPoll;
    internal readonly UringUnmap Unmap;
    private readonly bool _zeroes;

    public UringBdev(BackingFile file, bool sqpoll)
        : base(file.Name, "uring", file.BlockSize, file.BlockCount)
    {
        File = file;
        SqPoll = sqpoll;
        Uuid = file.Uuid;
        ProductName = file.IsBlockDevice ? "io_uring block device" : "io_uring file";
        RequiredAlignment = file.Alignment;
        WriteCache = !file.Direct;
        Unmap = ChooseUnmap(file.ReadOnly, file.IsBlockDevice, file.SupportsFallocate(IoUringAbi.FALLOC_FL_PUNCH_HOLE),
            file.DiscardMaxBytes, KernelVersion.AtLeast(6, 12));
        _zeroes = file.SupportsFallocate(IoUringAbi.FALLOC_FL_ZERO_RANGE);
    }

    /// <summary>Unmap is advertised only where it works. A file: where fallocate punches holes.
    /// A block device: the kernel's discard when the device takes discards and io_uring can
    /// send one (BLOCK_URING_CMD_DISCARD, Linux 6.12; the BLKDISCARD ioctl itself blocks, which
    /// no reactor may); else fallocate's hole punch where it works (a device with write zeroes:
    /// it zeroes with unmap, more than unmap promises); else not at all. A brd ram disk of
    /// Linux 6.1 has neither discard nor write zeroes: fallocate answered EOPNOTSUPP there
    /// while unmap was advertised.</summary>
    internal static UringUnmap ChooseUnmap(bool readOnly, bool blockDevice, bool punchHoleWorks,
        ulong discardMaxBytes, bool kernelDiscards)
    {
        if (readOnly)
        {
            return UringUnmap.None;
        }
        if (blockDevice && discardMaxBytes > 0 && kernelDiscards)
        {
            return UringUnmap.Discard;
        }
        return punchHoleWorks ? UringUnmap.PunchHole : UringUnmap.None;
    }

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Reset => true,
        BdevIoType.Write or BdevIoType.Flush => !File.ReadOnly,
        BdevIoType.Unmap => Unmap != UringUnmap.None,
        BdevIoType.WriteZeroes => _zeroes,
        _ => false,
    };

    public override string DescribeDriver() =>
        $"path={File.Path} direct={File.Direct} sqpoll={SqPoll} block_device={File.IsBlockDevice} unmap={Unmap}";

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
