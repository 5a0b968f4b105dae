using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>XTS tweak arithmetic: multiplication by powers of x in GF(2^128) modulo
/// x^128 + x^7 + x^2 + x + 1, with the tweak a little-endian 128-bit number (IEEE 1619's
/// convention: byte 0 holds the lowest coefficients).</summary>
internal static class Gf128
{
    /// <summary>t * x with shifts: each 64-bit half shifts left by one; bit 63 carries into bit
    /// 64 and bit 127 folds back as 0x87. The two carries are the sign bits of 32-bit lanes 1 and
    /// 3, spread to whole lanes by an arithmetic shift and masked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> MulX(Vector128<byte> t)
    {
        Vector128<int> carries = Sse2.ShiftRightArithmetic(Sse2.Shuffle(t.AsInt32(), 0x13), 31)
                                 & Vector128.Create(0x87, 0, 1, 0);
        return (Sse2.ShiftLeftLogical(t.AsInt64(), 1).AsInt32() ^ carries).AsByte();
    }
}
