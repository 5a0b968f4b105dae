using System.Collections.Generic;

namespace NativeBdev.Crypto;

/// <summary>A named key of the registry: the cipher's expanded key, its tweak layout, and the
/// vbdevs using it. Never holds the key as given (hex or bytes): only the cipher's schedule.</summary>
internal sealed class CryptoKey
{
    public string Name { get; }
    public CipherKey Cipher { get; }
    public TweakLayout Layout { get; }
    /// <summary>The vbdev whose inline key this is (crypto:///NAME?...&amp;key=), destroyed
    /// with it; null for a key made by nb_crypto_key_create.</summary>
    public string? OwnerBdev { get; }
    internal readonly List<string> Users = new(); // under the registry's lock

    public CryptoKey(string name, CipherKey cipher, TweakLayout layout, string? ownerBdev)
    {
        Name = name;
        Cipher = cipher;
        Layout = layout;
        OwnerBdev = ownerBdev;
    }

    public static string CipherName(CryptoCipher c) => c == CryptoCipher.AesXts ? "AES_XTS" : "AES_CBC";

    public static string LayoutName(TweakLayout l) => l == TweakLayout.Plain64 ? "plain64" : "spdk-sw";
}

/// <summary>What the list call shows of a key: never its material.</summary>
internal readonly record struct CryptoKeyInfo(string Name, string Cipher, int KeyBits, string TweakMode,
    string[] Users);
