using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>XTS-AES on 128-bit AES-NI: eight blocks in flight, the depth that covers AESENC's
/// latency (4 cycles) at its throughput on the two AES units of recent cores. The only path:
/// .NET 10 has no VAES intrinsics (docs/ARCHITECTURE.md, "Cipher").</summary>
internal static unsafe class XtsAesNi
{
    /// <summary>Encrypts or decrypts whole data units. <paramref name="data"/> is the data
    /// key's schedule of the direction, <paramref name="tweakKey"/> key2's encryption schedule.</summary>
    [SkipLocalsInit]
    public static void Units<TDirection>(Vector128<byte>* data, Vector128<byte>* tweakKey, int rounds,
        byte* src, byte* dst, nuint length, uint unitSize, ulong unit, TweakLayout layout)
        where TDirection : struct, IAesDirection
    {
        for (nuint done = 0; done < length; done += unitSize, unit++)
        {
            Vector128<byte> tweak = AesBlock.Encrypt(TweakBlock.For(unit, layout), tweakKey, rounds);
            Unit<TDirection>(data, rounds, src + done, dst + done, unitSize, tweak);
        }
    }

    private static void Unit<TDirection>(Vector128<byte>* k, int rounds, byte* src, byte* dst, uint bytes,
        Vector128<byte> t0)
        where TDirection : struct, IAesDirection
    {
        uint offset = 0;
        for (; offset + 128 <= bytes; offset += 128)
        {
            Vector128<byte> t1 = Gf128.MulX(t0), t2 = Gf128.MulX(t1), t3 = Gf128.MulX(t2);
            Vector128<byte> t4 = Gf128.MulX(t3), t5 = Gf128.MulX(t4), t6 = Gf128.MulX(t5);
            Vector128<byte> t7 = Gf128.MulX(t6);
            byte* s = src + offset;
            Vector128<byte> k0 = k[0];
            Vector128<byte> b0 = Sse2.LoadVector128(s) ^ t0 ^ k0;
            Vector128<byte> b1 = Sse2.LoadVector128(s + 16) ^ t1 ^ k0;
            Vector128<byte> b2 = Sse2.LoadVector128(s + 32) ^ t2 ^ k0;
            Vector128<byte> b3 = Sse2.LoadVector128(s + 48) ^ t3 ^ k0;
            Vector128<byte> b4 = Sse2.LoadVector128(s + 64) ^ t4 ^ k0;
            Vector128<byte> b5 = Sse2.LoadVector128(s + 80) ^ t5 ^ k0;
            Vector128<byte> b6 = Sse2.LoadVector128(s + 96) ^ t6 ^ k0;
            Vector128<byte> b7 = Sse2.LoadVector128(s + 112) ^ t7 ^ k0;
            // Unrolled (no counter, no index arithmetic per round): 10 or 14 rounds, the only
            // key lengths CipherKey accepts.
            Round8<TDirection>(k[1], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[2], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[3], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[4], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[5], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[6], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[7], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[8], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            Round8<TDirection>(k[9], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            if (rounds > 10)
            {
                Round8<TDirection>(k[10], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
                Round8<TDirection>(k[11], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
                Round8<TDirection>(k[12], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
                Round8<TDirection>(k[13], ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            }
            // The last round ends with an XOR of its key: folding the tweak into that key saves
            // the separate XOR of the output.
            Vector128<byte> kl = k[rounds];
            byte* d = dst + offset;
            Sse2.Store(d, TDirection.LastRound(b0, kl ^ t0));
            Sse2.Store(d + 16, TDirection.LastRound(b1, kl ^ t1));
            Sse2.Store(d + 32, TDirection.LastRound(b2, kl ^ t2));
            Sse2.Store(d + 48, TDirection.LastRound(b3, kl ^ t3));
            Sse2.Store(d + 64, TDirection.LastRound(b4, kl ^ t4));
            Sse2.Store(d + 80, TDirection.LastRound(b5, kl ^ t5));
            Sse2.Store(d + 96, TDirection.LastRound(b6, kl ^ t6));
            Sse2.Store(d + 112, TDirection.LastRound(b7, kl ^ t7));
            t0 = Gf128.MulX(t7);
        }
        for (; offset < bytes; offset += 16)
        {
            Vector128<byte> b = Sse2.LoadVector128(src + offset) ^ t0 ^ k[0];
            for (int r = 1; r < rounds; r++)
            {
                b = TDirection.Round(b, k[r]);
            }
            Sse2.Store(dst + offset, TDirection.LastRound(b, k[rounds] ^ t0));
            t0 = Gf128.MulX(t0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round8<TDirection>(Vector128<byte> key, ref Vector128<byte> b0, ref Vector128<byte> b1,
        ref Vector128<byte> b2, ref Vector128<byte> b3, ref Vector128<byte> b4, ref Vector128<byte> b5,
        ref Vector128<byte> b6, ref Vector128<byte> b7)
        where TDirection : struct, IAesDirection
    {
        b0 = TDirection.Round(b0, key);
        b1 = TDirection.Round(b1, key);
        b2 = TDirection.Round(b2, key);
        b3 = TDirection.Round(b3, key);
        b4 = TDirection.Round(b4, key);
        b5 = TDirection.Round(b5, key);
        b6 = TDirection.Round(b6, key);
        b7 = TDirection.Round(b7, key);
    }
}
