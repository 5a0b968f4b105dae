using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>XTS-AES on 128-bit AES-NI: eight blocks in flight, the depth that covers AESENC's
/// latency (4 cycles) at its throughput on the two AES units of recent cores.
///
/// The tweaks are software-pipelined: the next group's eight come from a serial chain of
/// <see cref="Gf128.MulX"/> placed before this group's rounds, so the out-of-order core runs the
/// chain beside the rounds instead of the rounds waiting for it. They go through a small
/// stack buffer already combined with the first and last round keys, so the rounds read them
/// as memory operands and the 16 vector registers hold only the blocks and one round key
/// (eight tweaks kept in registers as well spilled).</summary>
internal static unsafe class XtsAesNi
{
    private const int Blocks = 8;

    /// <summary>Encrypts or decrypts whole data units. <paramref name="data"/> is the data
    /// key's schedule of the direction, <paramref name="tweakKey"/> key2's encryption schedule.</summary>
    [SkipLocalsInit]
    public static void Units<TDirection>(Vector128<byte>* data, Vector128<byte>* tweakKey, int rounds,
        byte* src, byte* dst, nuint length, uint unitSize, ulong unit, TweakLayout layout)
        where TDirection : struct, IAesDirection
    {
        // Two groups of whitening (tweak ^ first key) and last-round (tweak ^ last key) blocks.
        Vector128<byte>* tweaks = stackalloc Vector128<byte>[4 * Blocks];
        // The next unit's tweak (a serial chain of rounds) is encrypted before this unit's
        // rounds, so that it runs beside them.
        Vector128<byte> tweak = AesBlock.Encrypt(TweakBlock.For(unit, layout), tweakKey, rounds);
        for (nuint done = 0; done < length; done += unitSize, unit++)
        {
            Vector128<byte> current = tweak;
            if (done + unitSize < length)
            {
                tweak = AesBlock.Encrypt(TweakBlock.For(unit + 1, layout), tweakKey, rounds);
            }
            Unit<TDirection>(data, rounds, src + done, dst + done, unitSize, current, tweaks);
        }
    }

    private static void Unit<TDirection>(Vector128<byte>* k, int rounds, byte* src, byte* dst, uint bytes,
        Vector128<byte> t, Vector128<byte>* tweaks)
        where TDirection : struct, IAesDirection
    {
        Vector128<byte> k0 = k[0], kl = k[rounds];
        Vector128<byte>* cur = tweaks, next = tweaks + 2 * Blocks;
        uint groups = bytes / (16 * Blocks);
        if (groups != 0)
        {
            t = Fill(cur, t, k0, kl);
        }
        for (uint g = 0; g < groups; g++)
        {
            if (g + 1 < groups)
            {
                t = Fill(next, t, k0, kl);
            }
            byte* s = src + g * 16 * Blocks;
            Vector128<byte> b0 = Sse2.LoadVector128(s) ^ cur[0];
            Vector128<byte> b1 = Sse2.LoadVector128(s + 16) ^ cur[1];
            Vector128<byte> b2 = Sse2.LoadVector128(s + 32) ^ cur[2];
            Vector128<byte> b3 = Sse2.LoadVector128(s + 48) ^ cur[3];
            Vector128<byte> b4 = Sse2.LoadVector128(s + 64) ^ cur[4];
            Vector128<byte> b5 = Sse2.LoadVector128(s + 80) ^ cur[5];
            Vector128<byte> b6 = Sse2.LoadVector128(s + 96) ^ cur[6];
            Vector128<byte> b7 = Sse2.LoadVector128(s + 112) ^ cur[7];
            for (int r = 1; r < rounds; r++)
            {
                Vector128<byte> kr = k[r];
                b0 = TDirection.Round(b0, kr);
                b1 = TDirection.Round(b1, kr);
                b2 = TDirection.Round(b2, kr);
                b3 = TDirection.Round(b3, kr);
                b4 = TDirection.Round(b4, kr);
                b5 = TDirection.Round(b5, kr);
                b6 = TDirection.Round(b6, kr);
                b7 = TDirection.Round(b7, kr);
            }
            // The last round ends with an XOR of its key: with the tweak folded into that key
            // there is no separate XOR of the output.
            Vector128<byte>* last = cur + Blocks;
            byte* d = dst + g * 16 * Blocks;
            Sse2.Store(d, TDirection.LastRound(b0, last[0]));
            Sse2.Store(d + 16, TDirection.LastRound(b1, last[1]));
            Sse2.Store(d + 32, TDirection.LastRound(b2, last[2]));
            Sse2.Store(d + 48, TDirection.LastRound(b3, last[3]));
            Sse2.Store(d + 64, TDirection.LastRound(b4, last[4]));
            Sse2.Store(d + 80, TDirection.LastRound(b5, last[5]));
            Sse2.Store(d + 96, TDirection.LastRound(b6, last[6]));
            Sse2.Store(d + 112, TDirection.LastRound(b7, last[7]));
            Vector128<byte>* done = cur;
            cur = next;
            next = done;
        }
        for (uint offset = groups * 16 * Blocks; offset < bytes; offset += 16)
        {
            Vector128<byte> b = Sse2.LoadVector128(src + offset) ^ t ^ k0;
            for (int r = 1; r < rounds; r++)
            {
                b = TDirection.Round(b, k[r]);
            }
            Sse2.Store(dst + offset, TDirection.LastRound(b, kl ^ t));
            t = Gf128.MulX(t);
        }
    }

    /// <summary>Writes a group's eight tweaks from <paramref name="t"/> on, each XORed with the
    /// first round key at <c>group[i]</c> and with the last at <c>group[8 + i]</c> (two
    /// buffers, so that no load of one can be merged with the other and held in a register
    /// across the rounds). Returns the next group's first tweak.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Fill(Vector128<byte>* group, Vector128<byte> t, Vector128<byte> k0,
        Vector128<byte> kl)
    {
        for (int i = 0; i < Blocks; i++)
        {
            group[i] = t ^ k0;
            group[Blocks + i] = t ^ kl;
            t = Gf128.MulX(t);
        }
        return t;
    }
}
