using System;
using System.Collections.Generic;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Crypto;

/// <summary>Named keys (SPDK's accel_crypto_key_create / _destroy / accel_crypto_keys_get, and
/// the seed's global tracking of which vbdevs use which key). A vbdev takes its key by name
/// when it is created and holds the <see cref="CryptoKey"/> itself, so the I/O path never
/// looks here; a key in use cannot be destroyed. Control path only: one lock.</summary>
internal static class CryptoKeyRegistry
{
    public const int NameMax = 255;
    /// <summary>The default tweak layout: what SPDK's software accel module writes, so that
    /// the volumes SPDK (and Mayastor over it) made read back without a new option.</summary>
    public const TweakLayout DefaultLayout = TweakLayout.SpdkSw;

    private static readonly object s_lock = new();
    private static readonly Dictionary<string, CryptoKey> s_keys = new(StringComparer.Ordinal);

    /// <summary>nb_crypto_key_create: <paramref name="keyHex"/> and <paramref name="key2Hex"/>
    /// are ASCII hex (key2 empty for AES_CBC); <paramref name="tweakMode"/> null or empty is
    /// the default. 0, -EINVAL naming the field, -EEXIST for a name taken.</summary>
    public static int Create(string? name, string? cipher, ReadOnlySpan<byte> keyHex, ReadOnlySpan<byte> key2Hex,
        string? tweakMode, string? ownerBdev = null)
    {
        int rc = CheckName(name);
        if (rc != 0 || (rc = ParseCipher(cipher, out CryptoCipher c)) != 0 ||
            (rc = ParseTweakMode(tweakMode, out TweakLayout layout)) != 0)
        {
            return rc;
        }
        if ((rc = SecretBuffer.Create(out SecretBuffer? secret)) != 0)
        {
            return rc;
        }
        using (secret)
        {
            Span<byte> key = secret!.Span(0, 64), key2 = secret.Span(64, 64);
            int n1 = KeyHex.Decode(keyHex, key, "key");
            if (n1 < 0)
            {
                return n1;
            }
            int n2 = KeyHex.Decode(key2Hex, key2, "key2");
            if (n2 < 0)
            {
                return n2;
            }
            if ((rc = CheckLengths(c, key[..n1], key2[..n2])) != 0)
            {
                return rc;
            }
            rc = CipherKey.TryCreate(c, key[..n1], key2[..n2], out CipherKey? made, out string? error);
            if (rc != 0)
            {
                return LastError.Set(Errno.EINVAL, error ?? "the key was refused by the cipher");
            }
            lock (s_lock)
            {
                if (s_keys.ContainsKey(name!))
                {
                    made!.Dispose();
                    return LastError.Set(Errno.EEXIST, $"a crypto key named '{name}' exists");
                }
                s_keys.Add(name!, new CryptoKey(name!, made!, layout, ownerBdev));
            }
            return 0;
        }
    }

    private static int CheckLengths(CryptoCipher c, ReadOnlySpan<byte> key, ReadOnlySpan<byte> key2)
    {
        if (key.Length != 16 && key.Length != 32)
        {
            return LastError.Set(Errno.EINVAL,
                $"key: {key.Length} bytes; {CryptoKey.CipherName(c)} takes 16 or 32 (32 or 64 hex digits)");
        }
        if (c == CryptoCipher.AesCbc)
        {
            return key2.Length == 0 ? 0
                : LastError.Set(Errno.EINVAL, "key2: AES_CBC takes one key; pass NULL or \"\" for key2");
        }
        if (key2.Length != key.Length)
        {
            return LastError.Set(Errno.EINVAL,
                $"key2: {key2.Length} bytes; AES_XTS needs key2 as long as key ({key.Length} bytes)");
        }
        // XTS with key == key2 loses its security proof (IEEE 1619-2018 asks implementations
        // to refuse it); SPDK refuses it too.
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(key, key2)
            ? LastError.Set(Errno.EINVAL, "key2: equal to key; AES_XTS needs two different keys")
            : 0;
    }

    public static int ParseCipher(string? s, out CryptoCipher cipher)
    {
        cipher = CryptoCipher.AesXts;
        switch (s)
        {
            case "AES_XTS":
                return 0;
            case "AES_CBC":
                cipher = CryptoCipher.AesCbc;
                return 0;
            case null:
                return LastError.Set(Errno.EINVAL, "cipher is NULL (AES_XTS or AES_CBC)");
            default:
                return LastError.Set(Errno.EINVAL, $"cipher '{s}' is not AES_XTS or AES_CBC");
        }
    }

    public static int ParseTweakMode(string? s, out TweakLayout layout)
    {
        layout = DefaultLayout;
        switch (s)
        {
            case null:
            case "":
                return 0;
            case "spdk-sw":
                return 0;
            case "plain64":
                layout = TweakLayout.Plain64;
                return 0;
            default:
                return LastError.Set(Errno.EINVAL,
                    $"tweak_mode '{s}' is not plain64 (dm-crypt's aes-xts-plain64) or spdk-sw (SPDK's software " +
                    "module, the default)");
        }
    }

    public static int CheckName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return LastError.Set(Errno.EINVAL, "name: a crypto key needs a name");
        }
        if (Encoding.UTF8.GetByteCount(name) > NameMax)
        {
            return LastError.Set(Errno.EINVAL, $"name: a key name is at most {NameMax} bytes");
        }
        foreach (char ch in name)
        {
            if (char.IsControl(ch))
            {
                return LastError.Set(Errno.EINVAL, "name: a key name has no control characters");
            }
        }
        return 0;
    }

    /// <summary>nb_crypto_key_destroy: -ENOENT unknown, -EBUSY while a vbdev uses it (the
    /// message names them). The cipher's key material is zeroed.</summary>
    public static int Destroy(string? name)
    {
        CryptoKey? k;
        lock (s_lock)
        {
            if (name == null || !s_keys.TryGetValue(name, out k))
            {
                return LastError.Set(Errno.ENOENT, $"no crypto key named '{name}'");
            }
            if (k.Users.Count > 0)
            {
                return LastError.Set(Errno.EBUSY,
                    $"crypto key '{name}' is used by {string.Join(", ", k.Users)}: delete those bdevs first");
            }
            s_keys.Remove(name);
        }
        k.Cipher.Dispose();
        return 0;
    }

    /// <summary>A vbdev takes the key: it cannot be destroyed until <see cref="Release"/>.</summary>
    public static int Acquire(string? name, string user, out CryptoKey? key)
    {
        lock (s_lock)
        {
            if (name == null || !s_keys.TryGetValue(name, out key))
            {
                key = null;
                return LastError.Set(Errno.ENOENT,
                    $"no crypto key named '{name}' (create it with nb_crypto_key_create first)");
            }
            key.Users.Add(user);
            return 0;
        }
    }

    /// <summary>The vbdev is gone; a key it brought inline is destroyed with it.</summary>
    public static void Release(CryptoKey key, string user)
    {
        bool destroy;
        lock (s_lock)
        {
            key.Users.Remove(user);
            destroy = key.OwnerBdev == user && key.Users.Count == 0 && s_keys.Remove(key.Name);
        }
        if (destroy)
        {
            key.Cipher.Dispose();
        }
    }

    public static CryptoKeyInfo[] Snapshot()
    {
        lock (s_lock)
        {
            var all = new List<CryptoKeyInfo>(s_keys.Count);
            foreach (CryptoKey k in s_keys.Values)
            {
                all.Add(new CryptoKeyInfo(k.Name, CryptoKey.CipherName(k.Cipher.Cipher), k.Cipher.KeyBits,
                    CryptoKey.LayoutName(k.Layout), k.Users.ToArray()));
            }
            all.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return all.ToArray();
        }
    }
}
