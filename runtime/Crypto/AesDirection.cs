using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>The AES round instructions of one direction, as a type parameter: the XTS and CBC
/// loops are written once and the JIT/AOT compiler specializes them per struct, so neither
/// direction pays a branch per round.</summary>
internal interface IAesDirection
{
    static abstract Vector128<byte> Round(Vector128<byte> state, Vector128<byte> roundKey);

    static abstract Vector128<byte> LastRound(Vector128<byte> state, Vector128<byte> roundKey);
}

internal struct AesEncryption : IAesDirection
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Round(Vector128<byte> s, Vector128<byte> k) => Aes.Encrypt(s, k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LastRound(Vector128<byte> s, Vector128<byte> k) => Aes.EncryptLast(s, k);
}

internal struct AesDecryption : IAesDirection
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Round(Vector128<byte> s, Vector128<byte> k) => Aes.Decrypt(s, k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LastRound(Vector128<byte> s, Vector128<byte> k) => Aes.DecryptLast(s, k);
}
