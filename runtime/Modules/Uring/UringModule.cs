using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Uring;

/// <summary>uring:///path?blk_size=&amp;direct=1&amp;sqpoll=0&amp;readonly=0&amp;name=&amp;uuid= — a
/// file or block device through io_uring, one ring per thread (SPDK's bdev_uring,
/// Mayastor's uring://). O_DIRECT by default.</summary>
internal sealed class UringModule : IBdevModule
{
    public string Name => "uring";
    public ReadOnlySpan<string> Schemes => new[] { "uring" };

    public unsafe int Create(BdevUri uri, out string? name)
    {
        name = null;
        bool sqpoll = false;
        int rc = uri.GetBool("sqpoll", ref sqpoll);
        if (rc != 0 || (rc = BackingFile.Open(uri, out BackingFile? file)) != 0)
        {
            return rc;
        }
        if ((rc = uri.CheckAllUsed("blk_size, direct, sqpoll, readonly, name, uuid")) != 0)
        {
            file!.Dispose();
            return rc;
        }
        // Fail at create, not at the first I/O, where io_uring is disabled or refused.
        using (var probe = new UringRing(sqpoll))
        {
            if ((rc = probe.Init(4, 8)) != 0)
            {
                file!.Dispose();
                return rc;
            }
        }
        var bdev = new UringBdev(file!, sqpoll);
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            file!.Dispose();
            return rc;
        }
        name = bdev.Name;
        return 0;
    }
}

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
