namespace NativeBdev.Modules.Raid;

/// <summary>Where a raid bdev's blocks live on its base bdevs: the one idea raid0 and concat
/// differ in. <see cref="MapPiece"/> serves reads and writes (one child per piece, a piece
/// never crossing a strip or a base); <see cref="MapRange"/> serves unmap, flush and write
/// zeroes (one child per base, the base's blocks of the range being contiguous on it).</summary>
internal abstract class RaidLayout
{
    /// <summary>Blocks of the raid bdev (SPDK's computation for the level).</summary>
    public abstract ulong BlockCount { get; }

    /// <summary>The piece that starts at <paramref name="lba"/>: its base, its LBA there and
    /// its length (at most <paramref name="blocks"/>).</summary>
    public abstract void MapPiece(ulong lba, ulong blocks, out int disk, out ulong pdLba, out ulong pdBlocks);

    /// <summary>The part of [lba, lba + blocks) that base <paramref name="disk"/> holds, as
    /// one range of its own blocks; false when it holds none of it.</summary>
    public abstract bool MapRange(int disk, ulong lba, ulong blocks, out ulong pdLba, out ulong pdBlocks);
}
