using System;
using System.Numerics;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Raid;

/// <summary>raid0:///NAME?strip_size_kb=&amp;base_bdevs=A,B and concat:///NAME?... — SPDK's
/// bdev_raid at levels raid0 and concat, with its rules: a power-of-two strip of at least one
/// block, bases of one block size, each base claimed, and SPDK's block counts (raid0: the
/// smallest base in whole strips, times the bases; concat: each base in whole strips, summed).</summary>
internal sealed class RaidModule : IBdevModule
{
    /// <summary>SPDK bounds a raid's bases by a u8 count.</summary>
    public const int MaxBases = 255;

    public string Name => "raid";
    public ReadOnlySpan<string> Schemes => new[] { "raid0", "concat" };
    public unsafe int IoContextSize => sizeof(RaidIoContext);

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        ulong strip = 0;
        Guid uuid = Guid.NewGuid();
        int rc;
        if ((rc = uri.GetU64("strip_size_kb", ref strip, 0, uint.MaxValue)) != 0 || (rc = uri.GetUuid(ref uuid)) != 0)
        {
            return rc;
        }
        string? list = uri.Get("base_bdevs");
        if ((rc = uri.CheckAllUsed("strip_size_kb, base_bdevs, uuid")) != 0)
        {
            return rc;
        }
        if (string.IsNullOrEmpty(list))
        {
            return LastError.Set(Errno.EINVAL, $"{uri.Scheme}:///NAME needs base_bdevs=A,B,...");
        }
        RaidLevel level = uri.Scheme == "raid0" ? RaidLevel.Raid0 : RaidLevel.Concat;
        rc = Create(uri.Name, level, (uint)strip, list.Split(','), uuid);
        name = rc == 0 ? uri.Name : null;
        return rc;
    }

    /// <summary>The core of bdev_raid_create for raid0 and concat: 0, or -errno with a message.</summary>
    public static int Create(string name, RaidLevel level, uint stripSizeKb, string[] baseNames, Guid uuid)
    {
        int rc = BdevRegistry.CheckName(name);
        if (rc != 0)
        {
            return rc;
        }
        if (baseNames.Length == 0 || baseNames.Length > MaxBases)
        {
            return LastError.Set(Errno.EINVAL, $"a raid takes 1 .. {MaxBases} base bdevs, not {baseNames.Length}");
        }
        if (stripSizeKb == 0 || !BitOperations.IsPow2(stripSizeKb))
        {
            return LastError.Set(Errno.EINVAL, $"strip_size_kb {stripSizeKb} is not a power of two (SPDK's rule)");
        }
        var bases = new Bdev.Bdev[baseNames.Length];
        for (int i = 0; i < baseNames.Length; i++)
        {
            if (Array.IndexOf(baseNames, baseNames[i]) != i)
            {
                return LastError.Set(Errno.EINVAL, $"base bdev '{baseNames[i]}' is named twice");
            }
            if (BdevRegistry.Find(baseNames[i]) is not { Removing: false } b)
            {
                return LastError.Set(Errno.ENODEV, $"no bdev named '{baseNames[i]}' for raid '{name}'");
            }
            if (i > 0 && b.BlockSize != bases[0].BlockSize)
            {
                return LastError.Set(Errno.EINVAL,
                    $"base bdev '{b.Name}' has {b.BlockSize}-byte blocks, '{bases[0].Name}' {bases[0].BlockSize}");
            }
            bases[i] = b;
        }
        uint blockSize = bases[0].BlockSize;
        if ((ulong)stripSizeKb * 1024 < blockSize)
        {
            return LastError.Set(Errno.EINVAL,
                $"strip_size_kb {stripSizeKb} is smaller than one {blockSize}-byte block");
        }
        int shift = BitOperations.Log2((uint)((ulong)stripSizeKb * 1024 / blockSize));
        RaidLayout layout = level == RaidLevel.Raid0 ? Raid0(bases, shift) : Concat(bases, shift);
        if (layout.BlockCount == 0)
        {
            return LastError.Set(Errno.EINVAL, $"the base bdevs hold no whole {stripSizeKb} KiB strip");
        }
        var raid = new RaidBdev(name, level, stripSizeKb, layout, bases, uuid);
        if ((rc = raid.OpenBases()) != 0)
        {
            return rc;
        }
        if ((rc = BdevRegistry.Register(raid)) != 0)
        {
            raid.CloseBases();
            return rc;
        }
        return 0;
    }

    private static Raid0Layout Raid0(Bdev.Bdev[] bases, int shift)
    {
        ulong smallest = ulong.MaxValue;
        foreach (Bdev.Bdev b in bases)
        {
            smallest = Math.Min(smallest, b.BlockCount);
        }
        return new Raid0Layout(bases.Length, shift, smallest);
    }

    private static ConcatLayout Concat(Bdev.Bdev[] bases, int shift)
    {
        var blocks = new ulong[bases.Length];
        for (int i = 0; i < bases.Length; i++)
        {
            blocks[i] = bases[i].BlockCount;
        }
        return new ConcatLayout(shift, blocks);
    }
}
