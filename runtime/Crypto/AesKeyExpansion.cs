using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>FIPS-197 key expansion with AESKEYGENASSIST, written straight into the caller's
/// (locked) schedule memory, and the decryption schedule of the equivalent inverse cipher
/// (AESIMC over the middle round keys, in reverse order) that AESDEC needs.</summary>
internal static unsafe class AesKeyExpansion
{
    /// <summary>Rounds for a 16- or 32-byte key: 10 or 14; the schedule holds rounds + 1 keys.</summary>
    public static int Rounds(int keyBytes) => keyBytes == 16 ? 10 : 14;

    /// <summary>Expands <paramref name="key"/> (16 or 32 bytes) into <paramref name="schedule"/>
    /// (16 * (rounds + 1) bytes).</summary>
    public static void ExpandEncrypt(ReadOnlySpan<byte> key, Vector128<byte>* schedule)
    {
        if (key.Length == 16)
        {
            Expand128(Vector128.Create(key), schedule);
        }
        else
        {
            Expand256(Vector128.Create(key), Vector128.Create(key.Slice(16)), schedule);
        }
    }

    /// <summary>Writes the decryption schedule of <paramref name="encrypt"/>: dk[0] = ek[Nr],
    /// dk[i] = InvMixColumns(ek[Nr - i]), dk[Nr] = ek[0].</summary>
    public static void DeriveDecrypt(Vector128<byte>* encrypt, int rounds, Vector128<byte>* decrypt)
    {
        decrypt[0] = encrypt[rounds];
        for (int i = 1; i < rounds; i++)
        {
            decrypt[i] = Aes.InverseMixColumns(encrypt[rounds - i]);
        }
        decrypt[rounds] = encrypt[0];
    }

    // Each step XORs the previous round key's words cumulatively (w0, w0^w1, ...) and then the
    // assist word broadcast to all four lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Step(Vector128<byte> previous, Vector128<byte> assist, byte lane)
    {
        Vector128<byte> k = previous;
        k ^= Sse2.ShiftLeftLogical128BitLane(k, 4);
        k ^= Sse2.ShiftLeftLogical128BitLane(k, 4);
        k ^= Sse2.ShiftLeftLogical128BitLane(k, 4);
        Vector128<byte> broadcast = lane == 3
            ? Sse2.Shuffle(assist.AsInt32(), 0xFF).AsByte()
            : Sse2.Shuffle(assist.AsInt32(), 0xAA).AsByte();
        return k ^ broadcast;
    }

    private static void Expand128(Vector128<byte> k, Vector128<byte>* s)
    {
        s[0] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x01), 3);
        s[1] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x02), 3);
        s[2] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x04), 3);
        s[3] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x08), 3);
        s[4] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x10), 3);
        s[5] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x20), 3);
        s[6] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x40), 3);
        s[7] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x80), 3);
        s[8] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x1B), 3);
        s[9] = k;
        k = Step(k, Aes.KeygenAssist(k, 0x36), 3);
        s[10] = k;
    }

    // AES-256 alternates: the even round keys take RotWord+SubWord+Rcon of the odd one before
    // them (lane 3 of the assist), the odd ones SubWord alone of the even one (lane 2, rcon 0).
    private static void Expand256(Vector128<byte> a, Vector128<byte> b, Vector128<byte>* s)
    {
        s[0] = a;
        s[1] = b;
        a = Step(a, Aes.KeygenAssist(b, 0x01), 3);
        s[2] = a;
        b = Step(b, Aes.KeygenAssist(a, 0x00), 2);
        s[3] = b;
        a = Step(a, Aes.KeygenAssist(b, 0x02), 3);
        s[4] = a;
        b = Step(b, Aes.KeygenAssist(a, 0x00), 2);
        s[5] = b;
        a = Step(a, Aes.KeygenAssist(b, 0x04), 3);
        s[6] = a;
        b = Step(b, Aes.KeygenAssist(a, 0x00), 2);
        s[7] = b;
        a = Step(a, Aes.KeygenAssist(b, 0x08), 3);
        s[8] = a;
        b = Step(b, Aes.KeygenAssist(a, 0x00), 2);
        s[9] = b;
        a = Step(a, Aes.KeygenAssist(b, 0x10), 3);
        s[10] = a;
        b = Step(b, Aes.KeygenAssist(a, 0x00), 2);
        s[11] = b;
        a = Step(a, Aes.KeygenAssist(b, 0x20), 3);
        s[12] = a;
        b = Step(b, Aes.KeygenAssist(a, 0x00), 2);
        s[13] = b;
        a = Step(a, Aes.KeygenAssist(b, 0x40), 3);
        s[14] = a;
    }
}
