using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>What the CPU offers the cipher, read once. The one path is 128-bit AES-NI (with
/// SSE4.1 for the byte shuffles). .NET 10 exposes no VAES: System.Runtime.Intrinsics.X86.Aes has
/// no V256/V512 members in 10.0 (checked by reflection on 10.0.12), so a 256-bit path cannot be
/// written in C# against this runtime; see docs/ARCHITECTURE.md, "Cipher".</summary>
internal static class CipherPath
{
    public static readonly bool AesNiAvailable = Aes.IsSupported && Sse41.IsSupported;
}
