using NativeBdev.Crypto;

namespace NativeBdev.Tests.Crypto;

/// <summary>Known answers (IEEE 1619 XTS-AES, NIST SP 800-38A CBC), the python3-cryptography
/// oracle over random data for both layouts and key lengths, key validation, zero allocation
/// and the wipe on Dispose.</summary>
public class CipherKeyTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    private static CipherKey Create(CryptoCipher cipher, byte[] key, byte[] key2)
    {
        int rc = CipherKey.TryCreate(cipher, key, key2, out CipherKey? k, out string? error);
        if (rc != 0)
        {
            throw new InvalidOperationException($"TryCreate: {rc} {error}");
        }
        return k!;
    }

    private static unsafe byte[] Run(CipherKey key, byte[] input, uint unitSize, ulong first, TweakLayout layout,
        bool encrypt, bool inPlace)
    {
        byte[] output = inPlace ? (byte[])input.Clone() : new byte[input.Length];
        byte[] source = inPlace ? output : input;
        fixed (byte* s = source, d = output)
        {
            if (encrypt)
            {
                key.EncryptUnits(s, d, (nuint)input.Length, unitSize, first, layout);
            }
            else
            {
                key.DecryptUnits(s, d, (nuint)input.Length, unitSize, first, layout);
            }
        }
        return output;
    }

    // IEEE 1619-2007 Annex B: vector 10 (AES-256, 512-byte unit, sequence number 0xff) and
    // vector 4 (AES-128, sequence number 0). The plaintext of both is bytes 0..255 twice.
    private static byte[] IeeePlaintext() => Enumerable.Range(0, 512).Select(i => (byte)i).ToArray();

    [Test]
    public async Task Ieee1619_vector_10_aes256_unit_0xff()
    {
        byte[] key = Hex("2718281828459045235360287471352662497757247093699959574966967627");
        byte[] key2 = Hex("3141592653589793238462643383279502884197169399375105820974944592");
        using CipherKey k = Create(CryptoCipher.AesXts, key, key2);
        byte[] c = Run(k, IeeePlaintext(), 512, 0xff, TweakLayout.Plain64, true, false);
        await Assert.That(Convert.ToHexString(c, 0, 32).ToLowerInvariant())
            .IsEqualTo("1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b");
        await Assert.That(Convert.ToHexString(c, 480, 32).ToLowerInvariant())
            .IsEqualTo("773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151");
        await Assert.That(Run(k, c, 512, 0xff, TweakLayout.Plain64, false, true)).IsEquivalentTo(IeeePlaintext());
    }

    [Test]
    public async Task Ieee1619_vector_4_aes128_unit_0()
    {
        byte[] key = Hex("27182818284590452353602874713526");
        byte[] key2 = Hex("31415926535897932384626433832795");
        using CipherKey k = Create(CryptoCipher.AesXts, key, key2);
        byte[] c = Run(k, IeeePlaintext(), 512, 0, TweakLayout.Plain64, true, false);
        await Assert.That(Convert.ToHexString(c, 0, 32).ToLowerInvariant())
            .IsEqualTo("27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c");
        await Assert.That(Convert.ToHexString(c, 480, 32).ToLowerInvariant())
            .IsEqualTo("eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568");
    }

    // NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt) and F.2.5 (CBC-AES256.Encrypt), decrypted back
    // as F.2.2/F.2.6. The vectors' IV 000102..0f has no zero half, so the unit's IV is LE64 of its
    // first 8 bytes (plain64) and the other half is XORed into the first plaintext block:
    // E(P0 ^ IV) == E((P0 ^ (IV ^ IV')) ^ IV').
    [Test]
    [Arguments("2b7e151628aed2a6abf7158809cf4f3c",
        "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2" +
        "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7")]
    [Arguments("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d" +
        "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b")]
    public async Task Nist_sp800_38a_cbc(string keyHex, string cipherHex)
    {
        byte[] plain = Hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" +
                           "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
        byte[] iv = Hex("000102030405060708090a0b0c0d0e0f");
        ulong unit = BitConverter.ToUInt64(iv, 0);
        byte[] adjusted = (byte[])plain.Clone();
        for (int i = 8; i < 16; i++)
        {
            adjusted[i] ^= iv[i];
        }
        using CipherKey k = Create(CryptoCipher.AesCbc, Hex(keyHex), []);
        byte[] c = Run(k, adjusted, 64, unit, TweakLayout.Plain64, true, false);
        await Assert.That(Convert.ToHexString(c).ToLowerInvariant()).IsEqualTo(cipherHex);
        byte[] back = Run(k, c, 64, unit, TweakLayout.Plain64, false, true);
        await Assert.That(back).IsEquivalentTo(adjusted);
    }

    [Test]
    [MatrixDataSource]
    public async Task Random_units_match_python_cryptography(
        [Matrix(CryptoCipher.AesXts, CryptoCipher.AesCbc)] CryptoCipher cipher,
        [Matrix(16, 32)] int keyBytes,
        [Matrix(TweakLayout.Plain64, TweakLayout.SpdkSw)] TweakLayout layout,
        [Matrix(512u, 4096u)] uint unitSize)
    {
        var rng = new Random(keyBytes * 31 + (int)unitSize + (int)layout * 7 + (int)cipher * 1000);
        byte[] key = new byte[keyBytes];
        byte[] key2 = cipher == CryptoCipher.AesXts ? new byte[keyBytes] : [];
        rng.NextBytes(key);
        rng.NextBytes(key2);
        // Eleven units: more than the eight CBC runs side by side, and a remainder.
        byte[] plain = new byte[unitSize * 11];
        rng.NextBytes(plain);
        ulong first = 0xFFFF_FFFF_FFFF_FFFAUL + (ulong)rng.Next(3); // the unit number wraps 2^64
        using CipherKey k = Create(cipher, key, key2);
        string mode = cipher == CryptoCipher.AesXts ? "xts" : "cbc";
        string lay = layout == TweakLayout.Plain64 ? "plain64" : "spdk-sw";
        byte[] expected = CipherOracle.Run(mode, [.. key, .. key2], unitSize, first, lay, true, plain);
        await Assert.That(Run(k, plain, unitSize, first, layout, true, false)).IsEquivalentTo(expected);
        await Assert.That(Run(k, plain, unitSize, first, layout, true, true)).IsEquivalentTo(expected);
        await Assert.That(Run(k, expected, unitSize, first, layout, false, false)).IsEquivalentTo(plain);
        await Assert.That(Run(k, expected, unitSize, first, layout, false, true)).IsEquivalentTo(plain);
    }

    [Test]
    [Arguments(16u)]
    [Arguments(48u)]
    [Arguments(144u)]
    [Arguments(400u)] // three groups of eight blocks, then one more
    public async Task Odd_block_counts_per_unit_match_python_cryptography(uint unitSize)
    {
        var rng = new Random((int)unitSize);
        byte[] key = new byte[64];
        rng.NextBytes(key);
        byte[] plain = new byte[unitSize * 9];
        rng.NextBytes(plain);
        using CipherKey k = Create(CryptoCipher.AesXts, key[..32], key[32..]);
        byte[] expected = CipherOracle.Run("xts", key, unitSize, 7, "spdk-sw", true, plain);
        await Assert.That(Run(k, plain, unitSize, 7, TweakLayout.SpdkSw, true, false)).IsEquivalentTo(expected);
        await Assert.That(Run(k, expected, unitSize, 7, TweakLayout.SpdkSw, false, true)).IsEquivalentTo(plain);
        using CipherKey c = Create(CryptoCipher.AesCbc, key[..16], []);
        byte[] expectedCbc = CipherOracle.Run("cbc", key[..16], unitSize, 7, "plain64", true, plain);
        await Assert.That(Run(c, plain, unitSize, 7, TweakLayout.Plain64, true, false)).IsEquivalentTo(expectedCbc);
        await Assert.That(Run(c, expectedCbc, unitSize, 7, TweakLayout.Plain64, false, true)).IsEquivalentTo(plain);
    }

    [Test]
    [Arguments(CryptoCipher.AesXts, 24, 24, "key: AES_XTS takes a 16- or 32-byte key (128 or 256 bits), not 24 bytes")]
    [Arguments(CryptoCipher.AesXts, 32, 16, "key2: AES_XTS takes a key2 as long as key (32 bytes), not 16 bytes")]
    [Arguments(CryptoCipher.AesXts, 16, 0, "key2: AES_XTS takes a key2 as long as key (16 bytes), not 0 bytes")]
    [Arguments(CryptoCipher.AesXts, 32, -1, "key2: must differ from key (XTS with key == key2 is not secure)")]
    [Arguments(CryptoCipher.AesCbc, 15, 0, "key: AES_CBC takes a 16- or 32-byte key (128 or 256 bits), not 15 bytes")]
    [Arguments(CryptoCipher.AesCbc, 16, 16, "key2: AES_CBC takes no key2")]
    [Arguments((CryptoCipher)7, 16, 16, "cipher: unknown (7)")]
    public async Task Bad_keys_are_refused_naming_the_field(CryptoCipher cipher, int keyBytes, int key2Bytes,
        string message)
    {
        byte[] key = Enumerable.Range(0xA0, keyBytes).Select(i => (byte)i).ToArray();
        byte[] key2 = key2Bytes < 0
            ? (byte[])key.Clone()
            : Enumerable.Range(1, key2Bytes).Select(i => (byte)i).ToArray();
        int rc = CipherKey.TryCreate(cipher, key, key2, out CipherKey? k, out string? error);
        await Assert.That(rc).IsEqualTo(-22);
        await Assert.That(k).IsNull();
        await Assert.That(error).IsEqualTo(message);
        await Assert.That(error!.Contains(Convert.ToHexString(key), StringComparison.OrdinalIgnoreCase)).IsFalse();
    }

    [Test]
    [Arguments(512u, 1000u)]
    [Arguments(520u, 1040u)]
    [Arguments(8u, 16u)]
    [Arguments(0u, 0u)]
    public async Task Lengths_that_are_not_whole_units_of_whole_blocks_are_refused(uint unitSize, uint length)
    {
        using CipherKey k = Create(CryptoCipher.AesXts, new byte[32], Enumerable.Repeat((byte)1, 32).ToArray());
        await Assert.That(() => Encrypt(k, unitSize, length)).Throws<ArgumentException>();
    }

    private static unsafe void Encrypt(CipherKey k, uint unitSize, uint length)
    {
        byte* buf = stackalloc byte[2048];
        k.EncryptUnits(buf, buf, length, unitSize, 0, TweakLayout.SpdkSw);
    }

    [Test]
    public async Task Encrypting_and_decrypting_allocate_nothing()
    {
        using CipherKey x = Create(CryptoCipher.AesXts, new byte[32], Enumerable.Repeat((byte)1, 32).ToArray());
        using CipherKey c = Create(CryptoCipher.AesCbc, new byte[32], []);
        await Assert.That(AllocatedBytes(x, c)).IsEqualTo(0L);
    }

    private static unsafe long AllocatedBytes(CipherKey x, CipherKey c)
    {
        byte[] buf = GC.AllocateArray<byte>(65536, pinned: true);
        fixed (byte* p = buf)
        {
            Cycle(x, c, p); // JIT warm-up
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                Cycle(x, c, p);
            }
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
    }

    private static unsafe void Cycle(CipherKey x, CipherKey c, byte* p)
    {
        x.EncryptUnits(p, p, 65536, 4096, 9, TweakLayout.Plain64);
        x.DecryptUnits(p, p, 65536, 512, 9, TweakLayout.SpdkSw);
        c.EncryptUnits(p, p, 65536, 4096, 9, TweakLayout.Plain64);
        c.DecryptUnits(p, p, 65536, 512, 9, TweakLayout.SpdkSw);
    }

    [Test]
    [NotInParallel(nameof(CipherKeyTests))] // the hook is process-wide
    public async Task Dispose_zeroes_the_schedules_before_unmapping()
    {
        using CipherKey k = Create(CryptoCipher.AesXts, Enumerable.Repeat((byte)7, 32).ToArray(),
            Enumerable.Repeat((byte)9, 32).ToArray());
        nint page = PageOf(k);
        long nonZeroBefore = NonZero(page);
        long nonZeroAtUnmap = -1;
        LockedKeyPage.BeforeUnmap = (p, size) =>
        {
            if (p == page)
            {
                nonZeroAtUnmap = NonZero(p);
            }
        };
        try
        {
            k.Dispose();
        }
        finally
        {
            LockedKeyPage.BeforeUnmap = null;
        }
        await Assert.That(nonZeroBefore).IsGreaterThan(600L); // three schedules of 15 round keys
        await Assert.That(nonZeroAtUnmap).IsEqualTo(0L);
        await Assert.That(PageOf(k)).IsEqualTo((nint)0);
        await Assert.That(() => Encrypt(k, 16, 16)).Throws<ObjectDisposedException>();
    }

    private static unsafe nint PageOf(CipherKey k) => (nint)k.SchedulePage;

    private static unsafe long NonZero(nint page) =>
        new ReadOnlySpan<byte>((void*)page, LockedKeyPage.Size).ToArray().Count(b => b != 0);

    [Test]
    public async Task Key_size_is_reported_per_key()
    {
        using CipherKey a = Create(CryptoCipher.AesXts, new byte[16], Enumerable.Repeat((byte)1, 16).ToArray());
        using CipherKey b = Create(CryptoCipher.AesCbc, new byte[32], []);
        await Assert.That(a.KeyBits).IsEqualTo(128);
        await Assert.That(b.KeyBits).IsEqualTo(256);
        await Assert.That(b.Cipher).IsEqualTo(CryptoCipher.AesCbc);
    }
}
