using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Named crypto keys. Key hex is read where the caller keeps it, never copied into a
/// managed string: the registry decodes it straight into a locked page.</summary>
internal static unsafe class CryptoExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_crypto_key_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbCryptoKeyCreate(byte* name, byte* cipher, byte* keyHex, byte* key2Hex, byte* tweakMode)
        => NbCryptoKeyCreateGuarded(name, cipher, keyHex, key2Hex, tweakMode);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbCryptoKeyCreateGuarded(byte* name, byte* cipher, byte* keyHex, byte* key2Hex,
        byte* tweakMode)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? n = Guard.String(name, "name", out int rc);
            if (rc != 0)
            {
                return rc;
            }
            string? c = Guard.String(cipher, "cipher", out rc);
            if (rc != 0)
            {
                return rc;
            }
            string? t = Guard.String(tweakMode, "tweak_mode", out rc);
            if (rc != 0)
            {
                return rc;
            }
            if (keyHex == null)
            {
                return Guard.Null("key");
            }
            if ((rc = HexSpan(keyHex, "key", out ReadOnlySpan<byte> k)) != 0 ||
                (rc = HexSpan(key2Hex, "key2", out ReadOnlySpan<byte> k2)) != 0)
            {
                return rc;
            }
            return CryptoKeyRegistry.Create(n, c, k, k2, t);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    /// <summary>The caller's NUL-terminated hex, bounded (no key is longer than 64 digits, so
    /// 256 is plenty); NULL is empty.</summary>
    private static int HexSpan(byte* s, string field, out ReadOnlySpan<byte> span)
    {
        span = default;
        if (s == null)
        {
            return 0;
        }
        const int max = 256;
        int n = 0;
        while (n < max && s[n] != 0)
        {
            n++;
        }
        if (n == max)
        {
            return LastError.Set(Errno.EINVAL, $"{field}: not NUL-terminated within {max} hex digits");
        }
        span = new ReadOnlySpan<byte>(s, n);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_crypto_key_destroy", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbCryptoKeyDestroy(byte* name) => NbCryptoKeyDestroyGuarded(name);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbCryptoKeyDestroyGuarded(byte* name)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? n = Guard.String(name, "name", out int rc);
            if (rc != 0)
            {
                return rc;
            }
            return n == null ? Guard.Null("name") : CryptoKeyRegistry.Destroy(n);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_crypto_key_list", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbCryptoKeyList(NbCryptoKeyInfo* keys, int max) => NbCryptoKeyListGuarded(keys, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbCryptoKeyListGuarded(NbCryptoKeyInfo* keys, int max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return List(keys, max);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int List(NbCryptoKeyInfo* keys, int max)
    {
        if (max < 0)
        {
            return LastError.Set(Errno.EINVAL, $"max {max} is negative");
        }
        if (keys == null && max > 0)
        {
            return Guard.Null("keys");
        }
        CryptoKeyInfo[] all = CryptoKeyRegistry.Snapshot();
        for (int i = 0; i < Math.Min(max, all.Length); i++)
        {
            NbCryptoKeyInfo* k = &keys[i];
            *k = default;
            Guard.CopyOut(all[i].Name, k->Name, 256);
            Guard.CopyOut(all[i].Cipher, k->Cipher, 16);
            Guard.CopyOut(all[i].TweakMode, k->TweakMode, 16);
            k->KeyBits = (uint)all[i].KeyBits;
            k->UserCount = (uint)all[i].Users.Length;
            Guard.CopyOut(string.Join(",", all[i].Users), k->Users, 512);
        }
        return all.Length;
    }
}
