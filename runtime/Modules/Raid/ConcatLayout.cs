using System;

namespace NativeBdev.Modules.Raid;

/// <summary>concat (SPDK's concat.c): the bases one after the other, each rounded down to
/// whole strips.</summary>
internal sealed class ConcatLayout : RaidLayout
{
    private readonly ulong[] _start;
    private readonly ulong[] _length;
    private readonly ulong _total;

    public ConcatLayout(int stripShift, ulong[] baseBlocks)
    {
        _start = new ulong[baseBlocks.Length];
        _length = new ulong[baseBlocks.Length];
        ulong at = 0;
        for (int i = 0; i < baseBlocks.Length; i++)
        {
            _start[i] = at;
            _length[i] = baseBlocks[i] >> stripShift << stripShift;
            at += _length[i];
        }
        _total = at;
    }

    public override ulong BlockCount => _total;

    public override void MapPiece(ulong lba, ulong blocks, out int disk, out ulong pdLba, out ulong pdBlocks)
    {
        int i = _start.Length - 1;
        while (_start[i] > lba || _length[i] == 0)
        {
            i--;
        }
        disk = i;
        pdLba = lba - _start[i];
        pdBlocks = Math.Min(blocks, _length[i] - pdLba);
    }

    public override bool MapRange(int disk, ulong lba, ulong blocks, out ulong pdLba, out ulong pdBlocks)
    {
        ulong from = Math.Max(lba, _start[disk]), to = Math.Min(lba + blocks, _start[disk] + _length[disk]);
        pdLba = from - _start[disk];
        pdBlocks = to > from ? to - from : 0;
        return to > from;
    }
}
