using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeBdev.Crypto;

/// <summary>The 16-byte tweak (XTS) or IV (CBC) of a data unit.</summary>
internal static class TweakBlock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> For(ulong unit, TweakLayout layout) =>
        layout == TweakLayout.Plain64 ? Vector128.Create(unit, 0UL).AsByte() : Vector128.Create(0UL, unit).AsByte();
}
