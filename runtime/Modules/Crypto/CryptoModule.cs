using System;
using System.Text;
using NativeBdev.Bdev;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Crypto;

/// <summary>crypto:///NAME?base=BDEV&amp;key_name=K — SPDK's bdev_crypto_create over a key of
/// the registry — and Mayastor's inline form crypto:///NAME?base=BDEV&amp;cipher=AES_XTS&amp;
/// key=HEX&amp;key2=HEX[&amp;tweak_mode=plain64|spdk-sw], which makes a key named after the
/// vbdev and destroys it with the vbdev. Each base block is one data unit, its LBA the tweak.</summary>
internal sealed class CryptoModule : IBdevModule
{
    private const string Known = "base, key_name, cipher, key, key2, tweak_mode, uuid";

    public string Name => "crypto";
    public ReadOnlySpan<string> Schemes => new[] { "crypto" };
    public unsafe int IoContextSize => sizeof(CryptoIoContext);

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        string? key = uri.Get("key"), key2 = uri.Get("key2");
        try
        {
            return CreateCore(uri, key, key2, out name);
        }
        finally
        {
            Wipe(key);
            Wipe(key2);
        }
    }

    private static int CreateCore(BdevUri uri, string? keyHex, string? key2Hex, out string? name)
    {
        name = null;
        string vbdev = uri.Name;
        string? baseName = uri.Get("base"), keyName = uri.Get("key_name"), cipher = uri.Get("cipher"),
            tweak = uri.Get("tweak_mode");
        Guid uuid = Guid.NewGuid();
        int rc = BdevRegistry.CheckName(vbdev);
        if (rc != 0 || (rc = uri.GetUuid(ref uuid)) != 0 || (rc = uri.CheckAllUsed(Known)) != 0)
        {
            return rc;
        }
        if (string.IsNullOrEmpty(baseName))
        {
            return LastError.Set(Errno.EINVAL, "crypto:///NAME needs base=BDEV, the bdev to encrypt onto");
        }
        bool inline = keyHex != null || key2Hex != null || cipher != null || tweak != null;
        if (inline == (keyName != null))
        {
            return LastError.Set(Errno.EINVAL,
                "crypto:// takes either key_name=K (a key of nb_crypto_key_create) or cipher=&key=&key2= " +
                "(a key of its own), not both nor neither");
        }
        Bdev.Bdev? b = BdevRegistry.Find(baseName);
        if (b == null)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{baseName}' for crypto:// to sit on");
        }
        if (inline)
        {
            if (keyHex == null)
            {
                return LastError.Set(Errno.EINVAL, "key: the inline form needs key=HEX");
            }
            keyName = vbdev;
            if ((rc = CreateInlineKey(vbdev, cipher ?? "AES_XTS", keyHex, key2Hex ?? "", tweak)) != 0)
            {
                return rc;
            }
        }
        if ((rc = CryptoKeyRegistry.Acquire(keyName, vbdev, out CryptoKey? k)) != 0)
        {
            return rc;
        }
        var bdev = new CryptoBdev(vbdev, b, k!, uuid);
        if ((rc = bdev.OpenBase()) != 0 || (rc = BdevRegistry.Register(bdev)) != 0)
        {
            int said = LastError.Errno;
            string message = LastError.Message;
            bdev.CloseBase();
            CryptoKeyRegistry.Release(k!, vbdev);
            LastError.Set(said, message); // the release may have set its own
            return rc;
        }
        name = vbdev;
        return 0;
    }

    /// <summary>The URI's hex goes through a secret page as ASCII bytes (the registry's input),
    /// zeroed after; a character that is not ASCII is not a hex digit either.</summary>
    private static int CreateInlineKey(string vbdev, string cipher, string keyHex, string key2Hex, string? tweak)
    {
        const int half = SecretBuffer.Size / 2;
        if (keyHex.Length > half || key2Hex.Length > half)
        {
            return LastError.Set(Errno.EINVAL, "key: longer than any key");
        }
        int rc = SecretBuffer.Create(out SecretBuffer? secret);
        if (rc != 0)
        {
            return rc;
        }
        using (secret)
        {
            Span<byte> k1 = secret!.Span(0, keyHex.Length), k2 = secret.Span(half, key2Hex.Length);
            for (int i = 0; i < keyHex.Length; i++)
            {
                k1[i] = keyHex[i] < 128 ? (byte)keyHex[i] : (byte)'?';
            }
            for (int i = 0; i < key2Hex.Length; i++)
            {
                k2[i] = key2Hex[i] < 128 ? (byte)key2Hex[i] : (byte)'?';
            }
            return CryptoKeyRegistry.Create(vbdev, cipher, k1, k2, tweak, ownerBdev: vbdev);
        }
    }

    /// <summary>Zeroes a hex string the URI parser made (a fresh substring of the URI, never a
    /// literal or an interned string). Best effort: the URI's own text, which the caller
    /// passed, still holds the key; hosts that care use key_name.</summary>
    private static unsafe void Wipe(string? s)
    {
        if (string.IsNullOrEmpty(s) || string.IsInterned(s) != null)
        {
            return;
        }
        fixed (char* p = s)
        {
            new Span<char>(p, s.Length).Clear();
        }
    }
}
