using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Crypto;

/// <summary>An AES key ready to encrypt data units: its schedules expanded once into a
/// <see cref="LockedKeyPage"/>, read-only afterwards, so any number of threads may encrypt with
/// it at once. The raw key bytes are not kept.
///
/// Page layout (bytes): the data key's encryption schedule at 0, its decryption schedule at
/// 256, key2's encryption schedule (XTS) at 512.</summary>
public sealed unsafe class CipherKey : IDisposable
{
    private const int EncryptOffset = 0;
    private const int DecryptOffset = 256;
    private const int TweakOffset = 512;
    private const uint MaxXtsUnitBytes = 1u << 24; // IEEE 1619: at most 2^20 blocks per unit

    private readonly LockedKeyPage _page;
    private readonly int _rounds;

    private CipherKey(CryptoCipher cipher, int keyBytes, LockedKeyPage page)
    {
        Cipher = cipher;
        KeyBits = keyBytes * 8;
        _rounds = AesKeyExpansion.Rounds(keyBytes);
        _page = page;
    }

    public CryptoCipher Cipher { get; }

    /// <summary>128 or 256: the length of one key (an XTS key pair of two 256-bit keys is 256).</summary>
    public int KeyBits { get; }

    /// <summary>Whether the schedules are mlocked (see <see cref="LockedKeyPage"/>).</summary>
    internal bool Locked => _page.Locked;

    /// <summary>Test hook: the schedule page (null after <see cref="Dispose"/>).</summary>
    internal byte* SchedulePage => _page.Base;

    /// <summary>Validates and expands a key: 0; -EINVAL with <paramref name="error"/> naming the
    /// field (never its bytes); -ENOMEM if no page can be mapped; -ENOTSUP without AES-NI.</summary>
    public static int TryCreate(CryptoCipher cipher, ReadOnlySpan<byte> key, ReadOnlySpan<byte> key2,
        out CipherKey? result, out string? error)
    {
        result = null;
        error = Validate(cipher, key, key2);
        if (error != null)
        {
            return -Errno.EINVAL;
        }
        if (!CipherPath.AesNiAvailable)
        {
            error = "cipher: this CPU has no AES-NI";
            return -Errno.ENOTSUP;
        }
        int rc = LockedKeyPage.TryMap(out LockedKeyPage? page);
        if (rc != 0)
        {
            error = "key: no memory for the key schedule";
            return rc;
        }
        var k = new CipherKey(cipher, key.Length, page!);
        k.Expand(key, key2);
        result = k;
        return 0;
    }

    private static string? Validate(CryptoCipher cipher, ReadOnlySpan<byte> key, ReadOnlySpan<byte> key2)
    {
        switch (cipher)
        {
            case CryptoCipher.AesXts:
                if (key.Length != 16 && key.Length != 32)
                {
                    return $"key: AES_XTS takes a 16- or 32-byte key (128 or 256 bits), not {key.Length} bytes";
                }
                if (key2.Length != key.Length)
                {
                    return $"key2: AES_XTS takes a key2 as long as key ({key.Length} bytes), not {key2.Length} bytes";
                }
                if (SameBytes(key, key2))
                {
                    return "key2: must differ from key (XTS with key == key2 is not secure)";
                }
                return null;
            case CryptoCipher.AesCbc:
                if (key.Length != 16 && key.Length != 32)
                {
                    return $"key: AES_CBC takes a 16- or 32-byte key (128 or 256 bits), not {key.Length} bytes";
                }
                if (!key2.IsEmpty)
                {
                    return "key2: AES_CBC takes no key2";
                }
                return null;
            default:
                return $"cipher: unknown ({(int)cipher})";
        }
    }

    // Constant time: how long the comparison takes says nothing about where the keys differ.
    private static bool SameBytes(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int diff = 0;
        for (int i = 0; i < a.Length; i++)
        {
            diff |= a[i] ^ b[i];
        }
        return diff == 0;
    }

    private void Expand(ReadOnlySpan<byte> key, ReadOnlySpan<byte> key2)
    {
        byte* p = _page.Base;
        AesKeyExpansion.ExpandEncrypt(key, (Vector128<byte>*)(p + EncryptOffset));
        AesKeyExpansion.DeriveDecrypt((Vector128<byte>*)(p + EncryptOffset), _rounds,
            (Vector128<byte>*)(p + DecryptOffset));
        if (Cipher == CryptoCipher.AesXts)
        {
            AesKeyExpansion.ExpandEncrypt(key2, (Vector128<byte>*)(p + TweakOffset));
        }
    }

    private Vector128<byte>* Narrow(int offset) => (Vector128<byte>*)(_page.Base + offset);

    /// <summary>Encrypts <paramref name="length"/> bytes, consecutive data units of
    /// <paramref name="unitSize"/> bytes numbered from <paramref name="firstUnit"/>. In place
    /// (src == dst) is allowed; partly overlapping buffers are not. No allocation, no lock.</summary>
    public void EncryptUnits(byte* src, byte* dst, nuint length, uint unitSize, ulong firstUnit, TweakLayout layout)
    {
        CheckUnits(length, unitSize, layout);
        if (Cipher == CryptoCipher.AesXts)
        {
            XtsAesNi.Units<AesEncryption>(Narrow(EncryptOffset), Narrow(TweakOffset), _rounds, src, dst, length,
                unitSize, firstUnit, layout);
        }
        else
        {
            CbcAesNi.Encrypt(Narrow(EncryptOffset), _rounds, src, dst, length, unitSize, firstUnit, layout);
        }
    }

    /// <summary>The inverse of <see cref="EncryptUnits"/>, same rules.</summary>
    public void DecryptUnits(byte* src, byte* dst, nuint length, uint unitSize, ulong firstUnit, TweakLayout layout)
    {
        CheckUnits(length, unitSize, layout);
        if (Cipher == CryptoCipher.AesXts)
        {
            XtsAesNi.Units<AesDecryption>(Narrow(DecryptOffset), Narrow(TweakOffset), _rounds, src, dst, length,
                unitSize, firstUnit, layout);
        }
        else
        {
            CbcAesNi.Decrypt(Narrow(DecryptOffset), _rounds, src, dst, length, unitSize, firstUnit, layout);
        }
    }

    // Always on (not an Invariant.Assert): a unit size that is no multiple of 16 or a length
    // that ends inside a unit would make the loops run past the caller's buffers.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckUnits(nuint length, uint unitSize, TweakLayout layout)
    {
        if (unitSize < 16 || (unitSize & 15) != 0 || length % unitSize != 0 ||
            (Cipher == CryptoCipher.AesXts && unitSize > MaxXtsUnitBytes) || (uint)layout > (uint)TweakLayout.SpdkSw)
        {
            ThrowBadUnits(length, unitSize);
        }
        if (_page.Base == null)
        {
            ThrowDisposed();
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowBadUnits(nuint length, uint unitSize) =>
        throw new ArgumentException($"length {length} must be whole data units of {unitSize} bytes, a unit size " +
                                    "that is a multiple of 16 (and at most 16 MiB for XTS), with a known tweak layout");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(CipherKey));

    /// <summary>Zeroes the schedules and unmaps their page. Not concurrently with an encryption.</summary>
    public void Dispose()
    {
        _page.Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>A key never disposed is still wiped, when the collector finds it.</summary>
    ~CipherKey() => _page.Release();
}
