using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_crypto_key_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbCryptoKeyInfo
{
    public fixed byte Name[256];
    public fixed byte Cipher[16];
    public fixed byte TweakMode[16];
    public uint KeyBits;
    public uint UserCount;
    public fixed byte Users[512];
}
