using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Split;

/// <summary>One part of a split base (SPDK's spdk_bdev_part, "Split Disk"): a window of
/// <see cref="Bdev.Bdev.BlockCount"/> blocks at <see cref="OffsetBlocks"/> of the base. Every
/// I/O is the base's, shifted.</summary>
internal sealed class SplitPartBdev : Bdev.Bdev
{
    private readonly SplitBase _split;

    public ulong OffsetBlocks { get; }

    public SplitBase Split => _split;

    public SplitPartBdev(string name, SplitBase split, ulong offsetBlocks, ulong blocks)
        : base(name, "split", split.Bdev.BlockSize, blocks)
    {
        _split = split;
        OffsetBlocks = offsetBlocks;
        Uuid = Guid.NewGuid();
        ProductName = "Split Disk";
        RequiredAlignment = split.Bdev.RequiredAlignment;
        NeedsDmaBuffers = split.Bdev.NeedsDmaBuffers;
        WriteCache = split.Bdev.WriteCache;
        OptimalIoBoundary = split.Bdev.OptimalIoBoundary;
    }

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Write or BdevIoType.Unmap or BdevIoType.Flush or BdevIoType.Reset
            or BdevIoType.WriteZeroes => _split.Bdev.IoTypeSupported(type),
        _ => false,
    };

    public override string DescribeDriver() => $"base_bdev={_split.Bdev.Name} offset_blocks={OffsetBlocks}";

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        BdevDesc desc = _split.Desc;
        if (desc.Closed)
        {
            LastError.Set(Errno.ENODEV, $"base bdev '{_split.Bdev.Name}' is closed");
            return null;
        }
        if (IoChannel.Get(_split.Bdev.IoDevice, out IoChannel? baseChannel) != 0)
        {
            return null;
        }
        return new SplitChannel(desc, baseChannel!, OffsetBlocks);
    }

    public override void Destruct() => _split.PartGone();

    // SPDK writes one bdev_split_create per base from its module's config_json, none per part.
}
