using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>AES-CBC per data unit: the chain restarts at each unit from its IV, the unit number
/// laid out by <see cref="TweakLayout"/> and used as is (not encrypted: SPDK's DPDK cryptodev
/// module hands DPDK the LBA as the IV of a one-block operation).
///
/// Encryption is a chain (each block needs the previous ciphertext), so one unit cannot have
/// blocks in flight; eight units can, and are run side by side. Decryption of a unit has no
/// chain: eight blocks in flight, as XTS.</summary>
internal static unsafe class CbcAesNi
{
    private const int Lanes = 8;

    [SkipLocalsInit]
    public static void Encrypt(Vector128<byte>* k, int rounds, byte* src, byte* dst, nuint length, uint unitSize,
        ulong unit, TweakLayout layout)
    {
        nuint units = length / unitSize;
        nuint u = 0;
        for (; u + Lanes <= units; u += Lanes)
        {
            EncryptEight(k, rounds, src + u * unitSize, dst + u * unitSize, unitSize, unit + u, layout);
        }
        for (; u < units; u++)
        {
            byte* s = src + u * unitSize;
            byte* d = dst + u * unitSize;
            Vector128<byte> c = TweakBlock.For(unit + u, layout);
            for (uint off = 0; off < unitSize; off += 16)
            {
                c = AesBlock.Encrypt(Sse2.LoadVector128(s + off) ^ c, k, rounds);
                Sse2.Store(d + off, c);
            }
        }
    }

    // Eight chains, one per unit, advanced a block at a time together.
    private static void EncryptEight(Vector128<byte>* k, int rounds, byte* src, byte* dst, uint unitSize,
        ulong unit, TweakLayout layout)
    {
        Vector128<byte> c0 = TweakBlock.For(unit, layout), c1 = TweakBlock.For(unit + 1, layout);
        Vector128<byte> c2 = TweakBlock.For(unit + 2, layout), c3 = TweakBlock.For(unit + 3, layout);
        Vector128<byte> c4 = TweakBlock.For(unit + 4, layout), c5 = TweakBlock.For(unit + 5, layout);
        Vector128<byte> c6 = TweakBlock.For(unit + 6, layout), c7 = TweakBlock.For(unit + 7, layout);
        nuint n = unitSize;
        for (uint off = 0; off < unitSize; off += 16)
        {
            byte* s = src + off;
            Vector128<byte> k0 = k[0];
            c0 ^= Sse2.LoadVector128(s) ^ k0;
            c1 ^= Sse2.LoadVector128(s + n) ^ k0;
            c2 ^= Sse2.LoadVector128(s + 2 * n) ^ k0;
            c3 ^= Sse2.LoadVector128(s + 3 * n) ^ k0;
            c4 ^= Sse2.LoadVector128(s + 4 * n) ^ k0;
            c5 ^= Sse2.LoadVector128(s + 5 * n) ^ k0;
            c6 ^= Sse2.LoadVector128(s + 6 * n) ^ k0;
            c7 ^= Sse2.LoadVector128(s + 7 * n) ^ k0;
            for (int r = 1; r < rounds; r++)
            {
                Vector128<byte> kr = k[r];
                c0 = Aes.Encrypt(c0, kr);
                c1 = Aes.Encrypt(c1, kr);
                c2 = Aes.Encrypt(c2, kr);
                c3 = Aes.Encrypt(c3, kr);
                c4 = Aes.Encrypt(c4, kr);
                c5 = Aes.Encrypt(c5, kr);
                c6 = Aes.Encrypt(c6, kr);
                c7 = Aes.Encrypt(c7, kr);
            }
            Vector128<byte> kl = k[rounds];
            byte* d = dst + off;
            c0 = Aes.EncryptLast(c0, kl);
            Sse2.Store(d, c0);
            c1 = Aes.EncryptLast(c1, kl);
            Sse2.Store(d + n, c1);
            c2 = Aes.EncryptLast(c2, kl);
            Sse2.Store(d + 2 * n, c2);
            c3 = Aes.EncryptLast(c3, kl);
            Sse2.Store(d + 3 * n, c3);
            c4 = Aes.EncryptLast(c4, kl);
            Sse2.Store(d + 4 * n, c4);
            c5 = Aes.EncryptLast(c5, kl);
            Sse2.Store(d + 5 * n, c5);
            c6 = Aes.EncryptLast(c6, kl);
            Sse2.Store(d + 6 * n, c6);
            c7 = Aes.EncryptLast(c7, kl);
            Sse2.Store(d + 7 * n, c7);
        }
    }

    /// <summary><paramref name="k"/> is the decryption schedule. In place works: a group's
    /// ciphertext is loaded before any of it is overwritten, and the block before the group is
    /// carried in a register.</summary>
    [SkipLocalsInit]
    public static void Decrypt(Vector128<byte>* k, int rounds, byte* src, byte* dst, nuint length, uint unitSize,
        ulong unit, TweakLayout layout)
    {
        for (nuint done = 0; done < length; done += unitSize, unit++)
        {
            DecryptUnit(k, rounds, src + done, dst + done, unitSize, TweakBlock.For(unit, layout));
        }
    }

    private static void DecryptUnit(Vector128<byte>* k, int rounds, byte* src, byte* dst, uint bytes,
        Vector128<byte> previous)
    {
        uint offset = 0;
        for (; offset + 128 <= bytes; offset += 128)
        {
            byte* s = src + offset;
            Vector128<byte> c0 = Sse2.LoadVector128(s), c1 = Sse2.LoadVector128(s + 16);
            Vector128<byte> c2 = Sse2.LoadVector128(s + 32), c3 = Sse2.LoadVector128(s + 48);
            Vector128<byte> c4 = Sse2.LoadVector128(s + 64), c5 = Sse2.LoadVector128(s + 80);
            Vector128<byte> c6 = Sse2.LoadVector128(s + 96), c7 = Sse2.LoadVector128(s + 112);
            Vector128<byte> k0 = k[0];
            Vector128<byte> b0 = c0 ^ k0, b1 = c1 ^ k0, b2 = c2 ^ k0, b3 = c3 ^ k0;
            Vector128<byte> b4 = c4 ^ k0, b5 = c5 ^ k0, b6 = c6 ^ k0, b7 = c7 ^ k0;
            for (int r = 1; r < rounds; r++)
            {
                Vector128<byte> kr = k[r];
                b0 = Aes.Decrypt(b0, kr);
                b1 = Aes.Decrypt(b1, kr);
                b2 = Aes.Decrypt(b2, kr);
                b3 = Aes.Decrypt(b3, kr);
                b4 = Aes.Decrypt(b4, kr);
                b5 = Aes.Decrypt(b5, kr);
                b6 = Aes.Decrypt(b6, kr);
                b7 = Aes.Decrypt(b7, kr);
            }
            Vector128<byte> kl = k[rounds];
            byte* d = dst + offset;
            Sse2.Store(d, Aes.DecryptLast(b0, kl ^ previous));
            Sse2.Store(d + 16, Aes.DecryptLast(b1, kl ^ c0));
            Sse2.Store(d + 32, Aes.DecryptLast(b2, kl ^ c1));
            Sse2.Store(d + 48, Aes.DecryptLast(b3, kl ^ c2));
            Sse2.Store(d + 64, Aes.DecryptLast(b4, kl ^ c3));
            Sse2.Store(d + 80, Aes.DecryptLast(b5, kl ^ c4));
            Sse2.Store(d + 96, Aes.DecryptLast(b6, kl ^ c5));
            Sse2.Store(d + 112, Aes.DecryptLast(b7, kl ^ c6));
            previous = c7;
        }
        for (; offset < bytes; offset += 16)
        {
            Vector128<byte> c = Sse2.LoadVector128(src + offset);
            Vector128<byte> b = c ^ k[0];
            for (int r = 1; r < rounds; r++)
            {
                b = Aes.Decrypt(b, k[r]);
            }
            Sse2.Store(dst + offset, Aes.DecryptLast(b, k[rounds] ^ previous));
            previous = c;
        }
    }
}
