using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeBdev.Crypto;

/// <summary>One block through a whole schedule: the tweak encryption and the serial CBC chain.</summary>
internal static unsafe class AesBlock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Encrypt(Vector128<byte> block, Vector128<byte>* k, int rounds)
    {
        Vector128<byte> b = block ^ k[0];
        for (int r = 1; r < rounds; r++)
        {
            b = Aes.Encrypt(b, k[r]);
        }
        return Aes.EncryptLast(b, k[rounds]);
    }
}
