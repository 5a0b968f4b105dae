using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace NativeBdev.Env;

/// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of NVMe/TCP's
/// header and data digests and of SPDK's blobstore metadata pages. <see cref="Compute"/> is the
/// standard form (initial value and final XOR all ones: "123456789" gives 0xE3069283);
/// <see cref="Update"/> continues a raw register, for data that arrives in pieces.
///
/// Eight bytes per crc32 instruction (BitOperations.Crc32C: SSE4.2 here, the ARMv8 instruction
/// there, a table elsewhere). Its latency is three cycles and its throughput one, so a buffer of
/// a few KiB runs as three interleaved lanes whose registers are joined at the end: shifting a
/// lane's CRC past the bytes that follow it is a multiplication by x^(8n) modulo the polynomial
/// (carry-less arithmetic in GF(2), the way zlib's crc32_combine does it).</summary>
internal static class Crc32c
{
    private const uint Polynomial = 0x82F63B78; // reflected
    private const int LaneThreshold = 3 * 256;  // below this one lane is as fast

    // x^(2^k) modulo the polynomial, k = 0..63: the squares that build x^(8n) for any n.
    private static readonly uint[] s_x2k = PowersOfTwo();

    // Lane shift constants by lane length, direct-mapped on laneBytes / 8: (laneBytes << 32) |
    // x^(8·laneBytes) mod P, each entry one 64-bit word written whole, so a reader sees one pair or
    // another and never a torn one. No allocation: a one-entry cache of objects made one per miss,
    // and two streams of other lengths (a target and an initiator in one process, 4 KiB and
    // 128 KiB PDUs) missed on every PDU, allocating on the I/O path.
    private const int ShiftSlots = 64;
    private static readonly ulong[] s_shifts = new ulong[ShiftSlots];

    /// <summary>The CRC-32C of <paramref name="data"/> (initial ~0, final XOR ~0).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    /// <summary>The raw register after <paramref name="data"/>, from <paramref name="crc"/>
    /// (no inversion either side): Compute(a + b) = ~Update(Update(~0, a), b).</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (data.Length >= LaneThreshold)
        {
            return UpdateThreeLanes(crc, data);
        }
        return UpdateOneLane(crc, data);
    }

    /// <summary>The register of <c>a + b</c> from the registers of a (any initial value) and
    /// of b (computed from 0), given b's length.</summary>
    public static uint Combine(uint crcA, uint crcBFromZero, long lengthB) =>
        MultiplyModP(X8nModP(lengthB), crcA) ^ crcBFromZero;

    private static uint UpdateOneLane(uint crc, ReadOnlySpan<byte> data)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            crc = BitOperations.Crc32C(crc, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
        }
        for (; i < n; i++)
        {
            crc = BitOperations.Crc32C(crc, Unsafe.Add(ref p, i));
        }
        return crc;
    }

    private static uint UpdateThreeLanes(uint crc, ReadOnlySpan<byte> data)
    {
        int lane = data.Length / 24 * 8; // three lanes of whole 8-byte words, the rest after
        ref byte p = ref MemoryMarshal.GetReference(data);
        uint c0 = crc, c1 = 0, c2 = 0;
        for (int i = 0; i < lane; i += 8)
        {
            c0 = BitOperations.Crc32C(c0, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
            c1 = BitOperations.Crc32C(c1, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, lane + i)));
            c2 = BitOperations.Crc32C(c2, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, 2 * lane + i)));
        }
        uint shift = LaneShiftFor(lane);
        crc = MultiplyModP(shift, MultiplyModP(shift, c0) ^ c1) ^ c2;
        return UpdateOneLane(crc, data[(3 * lane)..]);
    }

    private static uint LaneShiftFor(int laneBytes)
    {
        // laneBytes >= 256 here, so an empty slot (0) never matches.
        ref ulong slot = ref s_shifts[(laneBytes >> 3) & (ShiftSlots - 1)];
        ulong entry = Volatile.Read(ref slot);
        if ((int)(entry >> 32) == laneBytes)
        {
            return (uint)entry;
        }
        uint x8n = X8nModP(laneBytes);
        Volatile.Write(ref slot, (ulong)(uint)laneBytes << 32 | x8n);
        return x8n;
    }

    /// <summary>a(x)·b(x) modulo the polynomial, both reflected (bit 31 is x^0).</summary>
    internal static uint MultiplyModP(uint a, uint b)
    {
        uint product = 0;
        for (uint m = 1u << 31; m != 0; m >>= 1)
        {
            if ((a & m) != 0)
            {
                product ^= b;
            }
            b = (b & 1) != 0 ? (b >> 1) ^ Polynomial : b >> 1; // b·x
        }
        return product;
    }

    /// <summary>x^(8n) modulo the polynomial: the factor that moves a register past n bytes.</summary>
    internal static uint X8nModP(long n)
    {
        Invariant.Assert(n >= 0 && n < 1L << 60, "a length beyond the table of powers");
        uint power = 1u << 31; // x^0
        for (int k = 3; n != 0; n >>= 1, k++) // 8n = n·2^3: start at x^(2^3)
        {
            if ((n & 1) != 0)
            {
                power = MultiplyModP(s_x2k[k], power);
            }
        }
        return power;
    }

    private static uint[] PowersOfTwo()
    {
        var table = new uint[64];
        uint p = 1u << 30; // x^1
        for (int k = 0; k < 64; k++)
        {
            table[k] = p;
            p = MultiplyModP(p, p);
        }
        return table;
    }
}
