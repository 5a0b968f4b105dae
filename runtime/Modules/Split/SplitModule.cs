using System;
using System.Globalization;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Split;

/// <summary>split:///BASE?split_count=N&amp;split_size_mb=M — SPDK's vbdev_split: BASE is claimed
/// and cut into parts named BASEp0 .. BASEp(N-1), M MiB each, or equal parts of the whole
/// when M is 0; a count the base cannot hold is clamped to what fits, as SPDK does (with a
/// warning). The factory answers the first part's name; <see cref="SplitBase.Parts"/> has all.</summary>
internal sealed class SplitModule : IBdevModule
{
    /// <summary>SPDK's RPC takes any u32; a part is a bdev with a handle: bound it.</summary>
    public const uint MaxSplitCount = 1024;

    public string Name => "split";
    public ReadOnlySpan<string> Schemes => new[] { "split" };

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        ulong count = 0, sizeMb = 0;
        int rc;
        if ((rc = uri.GetU64("split_count", ref count, 1, MaxSplitCount)) != 0 ||
            (rc = uri.GetU64("split_size_mb", ref sizeMb, 0, 1UL << 40)) != 0 ||
            (rc = uri.CheckAllUsed("split_count, split_size_mb")) != 0)
        {
            return rc;
        }
        if (uri.Name.Length == 0)
        {
            return LastError.Set(Errno.EINVAL, "split:///BASE needs the name of the bdev to split as its path");
        }
        if (count == 0)
        {
            return LastError.Set(Errno.EINVAL, "split:// needs split_count=N (1 .. 1024)");
        }
        rc = Create(uri.Name, (uint)count, sizeMb, out SplitBase? split);
        name = rc == 0 ? split!.Parts[0].Name : null;
        return rc;
    }

    /// <summary>The core of bdev_split_create: 0 and the split, or -errno.</summary>
    public static int Create(string baseName, uint count, ulong sizeMb, out SplitBase? split)
    {
        split = null;
        Bdev.Bdev? b = BdevRegistry.Find(baseName);
        if (b == null || b.Removing)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{baseName}' to split");
        }
        ulong partBlocks;
        if (sizeMb != 0)
        {
            ulong bytes = sizeMb * 1024 * 1024;
            if (bytes % b.BlockSize != 0)
            {
                return LastError.Set(Errno.EINVAL,
                    $"split_size_mb {sizeMb} is not a multiple of '{baseName}''s block size {b.BlockSize}");
            }
            partBlocks = bytes / b.BlockSize;
        }
        else
        {
            partBlocks = b.BlockCount / count;
        }
        if (partBlocks == 0 || partBlocks > b.BlockCount)
        {
            return LastError.Set(Errno.EINVAL,
                $"bdev '{baseName}' ({b.BlockCount} blocks) cannot hold a part of {partBlocks} blocks");
        }
        ulong fits = b.BlockCount / partBlocks;
        if (count > fits)
        {
            Log.Warn($"split: split_count {count} is more than '{baseName}' holds ({fits}): clamped");
            count = (uint)fits;
        }
        for (uint i = 0; i < count; i++)
        {
            int nameRc = BdevRegistry.CheckName(PartName(baseName, i));
            if (nameRc != 0)
            {
                return nameRc;
            }
        }
        int rc = SplitBase.Open(b, count, sizeMb, out SplitBase? s);
        if (rc != 0)
        {
            return rc;
        }
        for (uint i = 0; i < count; i++)
        {
            var part = new SplitPartBdev(PartName(baseName, i), s!, i * partBlocks, partBlocks);
            if ((rc = BdevRegistry.Register(part)) != 0)
            {
                int said = LastError.Errno;
                string message = LastError.Message;
                s!.Abandon();
                LastError.Set(said, message);
                return rc;
            }
            s!.Add(part);
        }
        split = s;
        return 0;
    }

    public static string PartName(string baseName, uint i) =>
        baseName + "p" + i.ToString(CultureInfo.InvariantCulture);

    /// <summary>SPDK's config_json: one bdev_split_create per split base.</summary>
    public void WriteConfig(System.Text.Json.Utf8JsonWriter writer)
    {
        foreach (SplitBase s in SplitBase.Snapshot())
        {
            BdevConfig.Entry(writer, "bdev_split_create", w =>
            {
                w.WriteString("base_bdev", s.Bdev.Name);
                w.WriteNumber("split_count", s.SplitCount);
                w.WriteNumber("split_size_mb", s.SplitSizeMb);
            });
        }
    }
}
