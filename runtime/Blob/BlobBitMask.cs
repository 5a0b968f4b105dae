using System;
using System.Buffers.Binary;
using System.Numerics;
using NativeBdev.Interop;

namespace NativeBdev.Blob;

/// <summary>A bit array: one of the super block's masks (used metadata pages, used clusters, used
/// blob ids), or one rebuilt by replaying the metadata of a store that was not closed cleanly.</summary>
internal sealed class BlobBitMask
{
    private readonly ulong[] _words;

    public BlobBitMask(long bits)
    {
        Bits = bits;
        _words = new ulong[(bits + 63) / 64];
    }

    public long Bits { get; }

    public bool this[long index] =>
        index >= 0 && index < Bits && (_words[index >> 6] & (1UL << (int)(index & 63))) != 0;

    public void Set(long index)
    {
        if (index >= 0 && index < Bits)
        {
            _words[index >> 6] |= 1UL << (int)(index & 63);
        }
    }

    public void Clear(long index)
    {
        if (index >= 0 && index < Bits)
        {
            _words[index >> 6] &= ~(1UL << (int)(index & 63));
        }
    }

    /// <summary>A copy with <paramref name="bits"/> bits (at least as many as this one), the new ones clear.</summary>
    public BlobBitMask Grown(long bits)
    {
        var m = new BlobBitMask(Math.Max(bits, Bits));
        Array.Copy(_words, m._words, _words.Length);
        return m;
    }

    /// <summary>The first clear bit at or after <paramref name="from"/>, or -1 when all are set.</summary>
    public long FindClear(long from)
    {
        for (long w = Math.Max(0, from) >> 6; w < _words.Length; w++)
        {
            ulong free = ~_words[w];
            if (w == from >> 6 && from > 0)
            {
                free &= ~0UL << (int)(from & 63);
            }
            if (free != 0)
            {
                long i = (w << 6) + BitOperations.TrailingZeroCount(free);
                return i < Bits ? i : -1;
            }
        }
        return -1;
    }

    /// <summary>The mask as its on-disk region (SPDK's spdk_bs_md_mask): type, length in bits, the
    /// bits; <paramref name="region"/> is the whole region (its pages), zeroed past the bits.</summary>
    public void WriteTo(Span<byte> region, byte type)
    {
        region.Clear();
        region[0] = type;
        BinaryPrimitives.WriteUInt32LittleEndian(region[1..], (uint)Bits);
        Span<byte> bits = region[BlobFormat.MaskHeader..];
        for (long i = 0; i < Bits; i++)
        {
            if (this[i])
            {
                bits[(int)(i >> 3)] |= (byte)(1 << (int)(i & 7));
            }
        }
    }

    public long CountSet()
    {
        long n = 0;
        foreach (ulong w in _words)
        {
            n += BitOperations.PopCount(w);
        }
        return n;
    }

    /// <summary>Reads a mask region (<paramref name="region"/>: its pages, whole): the type byte must be
    /// <paramref name="type"/> and the length in bits must fit the region; bits past
    /// <paramref name="keepBits"/> are dropped (SPDK shrinks a cluster mask left long by a failed grow).</summary>
    public static BlobBitMask Parse(ReadOnlySpan<byte> region, byte type, string what, long minBits, long keepBits)
    {
        if (region.Length < BlobFormat.MaskHeader)
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"{what} mask: the region is {region.Length} bytes");
        }
        if (region[0] != type)
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"{what} mask: type {region[0]}, expected {type}");
        }
        long length = BinaryPrimitives.ReadUInt32LittleEndian(region[1..]);
        long room = (long)(region.Length - BlobFormat.MaskHeader) * 8;
        if (length > room)
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"{what} mask: {length} bits do not fit its {room}-bit region");
        }
        if (length < minBits)
        {
            throw new BlobFormatError(-Errno.EILSEQ, $"{what} mask: {length} bits, the store needs {minBits}");
        }
        var mask = new BlobBitMask(Math.Min(length, keepBits));
        ReadOnlySpan<byte> bits = region[BlobFormat.MaskHeader..];
        for (long i = 0; i < mask.Bits; i++)
        {
            if ((bits[(int)(i >> 3)] & (1 << (int)(i & 7))) != 0)
            {
                mask.Set(i);
            }
        }
        return mask;
    }
}
