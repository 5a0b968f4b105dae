using System;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Raid;

/// <summary>A byte range of an iovec array as an iovec array of its own: what a piece of a
/// vectored I/O hands its child. Bounded by the room the caller has; a piece cut short ends on
/// a block boundary, so that the rest is a piece of whole blocks too.</summary>
internal static unsafe class IovSlice
{
    /// <summary>Writes at most <paramref name="room"/> entries covering <paramref name="bytes"/>
    /// of <paramref name="src"/> from byte <paramref name="skip"/> on; returns the entries
    /// written and in <paramref name="taken"/> the bytes they cover (a multiple of
    /// <paramref name="blockSize"/>; 0 when not even one block fits).</summary>
    public static int Take(Iovec* src, int srcCount, ulong skip, ulong bytes, Iovec* dst, int room,
        uint blockSize, out ulong taken)
    {
        int i = 0;
        while (i < srcCount && skip >= src[i].Length)
        {
            skip -= src[i].Length;
            i++;
        }
        int n = 0;
        taken = 0;
        while (taken < bytes && i < srcCount && n < room)
        {
            ulong len = Math.Min((ulong)src[i].Length - skip, bytes - taken);
            dst[n].Base = src[i].Base + skip;
            dst[n].Length = (nuint)len;
            n++;
            taken += len;
            skip = 0;
            i++;
        }
        if (taken == bytes)
        {
            return n;
        }
        // Out of room: give back the partial block at the end.
        ulong excess = taken % blockSize;
        taken -= excess;
        while (excess > 0)
        {
            ulong cut = Math.Min(excess, (ulong)dst[n - 1].Length);
            dst[n - 1].Length -= (nuint)cut;
            excess -= cut;
            if (dst[n - 1].Length == 0)
            {
                n--;
            }
        }
        return taken == 0 ? 0 : n;
    }
}
