using System;

namespace NativeBdev.Crypto;

/// <summary>Key material as SPDK's accel_crypto_key_create takes it: hexadecimal, two digits
/// a byte, either case. Decoded straight into the caller's (secret) buffer; nothing of the
/// input is copied, and no message ever quotes it (only its field name and length).</summary>
internal static class KeyHex
{
    /// <summary>Decodes <paramref name="hex"/> into <paramref name="into"/>: the byte count,
    /// or -EINVAL (with a message naming <paramref name="field"/>) for an odd length, a digit
    /// that is not hexadecimal, or more bytes than <paramref name="into"/> holds.</summary>
    public static int Decode(ReadOnlySpan<byte> hex, Span<byte> into, string field)
    {
        if (hex.Length % 2 != 0)
        {
            return Env.LastError.Set(Interop.Errno.EINVAL,
                $"{field}: {hex.Length} hex digits is an odd count (two digits per byte)");
        }
        int n = hex.Length / 2;
        if (n > into.Length)
        {
            return Env.LastError.Set(Interop.Errno.EINVAL,
                $"{field}: {n} bytes is longer than any key (at most {into.Length})");
        }
        for (int i = 0; i < n; i++)
        {
            int hi = Digit(hex[2 * i]), lo = Digit(hex[2 * i + 1]);
            if ((hi | lo) < 0)
            {
                into[..i].Clear();
                return Env.LastError.Set(Interop.Errno.EINVAL,
                    $"{field}: character {(hi < 0 ? 2 * i : 2 * i + 1)} is not a hex digit");
            }
            into[i] = (byte)((hi << 4) | lo);
        }
        return n;
    }

    private static int Digit(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };
}
