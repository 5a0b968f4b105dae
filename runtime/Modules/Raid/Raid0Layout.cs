using System;

namespace NativeBdev.Modules.Raid;

/// <summary>raid0 (SPDK's raid0.c): strip s of the bdev is strip s / n of base s % n. Every
/// base contributes the smallest base's size rounded down to whole strips, so the bdev has
/// n times that.</summary>
internal sealed class Raid0Layout : RaidLayout
{
    private readonly int _n;
    private readonly int _shift;
    private readonly ulong _mask;
    private readonly ulong _perBase;

    public Raid0Layout(int bases, int stripShift, ulong smallestBaseBlocks)
    {
        _n = bases;
        _shift = stripShift;
        _mask = (1UL << stripShift) - 1;
        _perBase = smallestBaseBlocks >> stripShift << stripShift;
    }

    public override ulong BlockCount => _perBase * (ulong)_n;

    public override void MapPiece(ulong lba, ulong blocks, out int disk, out ulong pdLba, out ulong pdBlocks)
    {
        ulong strip = lba >> _shift, within = lba & _mask;
        disk = (int)(strip % (ulong)_n);
        pdLba = ((strip / (ulong)_n) << _shift) + within;
        pdBlocks = Math.Min(blocks, _mask + 1 - within);
    }

    /// <summary>The range's first and last blocks on <paramref name="disk"/>: the strips of
    /// one base in between are consecutive on it.</summary>
    public override bool MapRange(int disk, ulong lba, ulong blocks, out ulong pdLba, out ulong pdBlocks)
    {
        ulong n = (ulong)_n, d = (ulong)disk, end = lba + blocks;
        ulong s0 = lba >> _shift, s1 = (end - 1) >> _shift;
        ulong firstStrip = s0 + (d + n - s0 % n) % n;
        pdLba = pdBlocks = 0;
        if (firstStrip > s1)
        {
            return false;
        }
        ulong lastStrip = s1 - (s1 % n + n - d) % n; // >= firstStrip: no wrap
        ulong first = firstStrip == s0 ? lba : firstStrip << _shift;
        ulong last = lastStrip == s1 ? end - 1 : (lastStrip << _shift) + _mask;
        pdLba = ToBase(first);
        pdBlocks = ToBase(last) - pdLba + 1;
        return true;
    }

    private ulong ToBase(ulong lba) => (((lba >> _shift) / (ulong)_n) << _shift) + (lba & _mask);
}
