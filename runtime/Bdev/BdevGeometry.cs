using System;
using System.Globalization;
using System.Numerics;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>Block size and block count from URI parameters, as Mayastor's factories read
/// them: <c>blk_size</c> plus one of <c>size_mb</c>, <c>num_blocks</c> or <c>size</c>
/// (bytes, with an optional K/M/G/T binary suffix).</summary>
internal static class BdevGeometry
{
    public const uint MinBlockSize = 512;
    public const uint MaxBlockSize = 65536;

    public static int CheckBlockSize(ulong blockSize)
    {
        if (blockSize < MinBlockSize || blockSize > MaxBlockSize || !BitOperations.IsPow2(blockSize))
        {
            return LastError.Set(Errno.EINVAL,
                $"block size {blockSize} must be a power of two from {MinBlockSize} to {MaxBlockSize}");
        }
        return 0;
    }

    public static int Parse(BdevUri uri, uint defaultBlockSize, out uint blockSize, out ulong numBlocks)
    {
        blockSize = 0;
        numBlocks = 0;
        ulong bs = defaultBlockSize;
        int rc = uri.GetU64("blk_size", ref bs);
        if (rc != 0 || (rc = CheckBlockSize(bs)) != 0)
        {
            return rc;
        }
        int given = (uri.Has("size_mb") ? 1 : 0) + (uri.Has("num_blocks") ? 1 : 0) + (uri.Has("size") ? 1 : 0);
        if (given != 1)
        {
            return LastError.Set(Errno.EINVAL,
                $"{uri.Scheme}:// needs exactly one of size_mb, num_blocks or size (got {given})");
        }
        const ulong maxBytes = 1UL << 50;
        ulong bytes = 0;
        if (uri.Has("size_mb"))
        {
            ulong mb = 0;
            if ((rc = uri.GetU64("size_mb", ref mb, 1, maxBytes >> 20)) != 0)
            {
                return rc;
            }
            bytes = mb << 20;
        }
        else if (uri.Has("num_blocks"))
        {
            ulong n = 0;
            if ((rc = uri.GetU64("num_blocks", ref n, 1, maxBytes / bs)) != 0)
            {
                return rc;
            }
            bytes = n * bs;
        }
        else if ((rc = ParseBytes(uri.Get("size")!, maxBytes, out bytes)) != 0)
        {
            return rc;
        }
        if (bytes % bs != 0)
        {
            return LastError.Set(Errno.EINVAL, $"size {bytes} bytes is not a multiple of the block size {bs}");
        }
        blockSize = (uint)bs;
        numBlocks = bytes / bs;
        return 0;
    }

    private static int ParseBytes(string s, ulong max, out ulong bytes)
    {
        bytes = 0;
        int shift = 0;
        string digits = s;
        if (s.Length > 0)
        {
            shift = char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
            if (shift != 0)
            {
                digits = s[..^1];
            }
        }
        if (!ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) || v == 0 ||
            v > (max >> shift))
        {
            return LastError.Set(Errno.EINVAL,
                $"size='{s}' must be a positive byte count (K/M/G/T suffix allowed) up to 1 PiB");
        }
        bytes = v << shift;
        return 0;
    }

    /// <summary>What the null and malloc factories share: the name from the path, the
    /// geometry, <c>uuid=</c>, and no other parameter.</summary>
    public static int ParseSizedDevice(BdevUri uri, out string name, out uint blockSize, out ulong numBlocks,
        out Guid uuid)
    {
        name = uri.Name;
        blockSize = 0;
        numBlocks = 0;
        uuid = Guid.NewGuid();
        int rc = BdevRegistry.CheckName(name);
        if (rc != 0 || (rc = Parse(uri, 512, out blockSize, out numBlocks)) != 0 || (rc = uri.GetUuid(ref uuid)) != 0)
        {
            return rc;
        }
        return uri.CheckAllUsed("size_mb, num_blocks, size, blk_size, uuid");
    }
}
