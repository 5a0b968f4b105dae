using NativeBdev.Env;

namespace NativeBdev.Tests.Support;

/// <summary>Pointer-free wrappers over DmaPool for the async tests (an await cannot sit in an
/// unsafe context).</summary>
internal static unsafe class Dma
{
    public static DmaPool Create(long initial, long max, int huge = 0, IovaMode mode = IovaMode.Va)
    {
        int rc = DmaPool.Create(initial, huge, max, mode, out DmaPool? pool);
        if (rc != 0)
        {
            throw new InvalidOperationException($"DmaPool.Create: {rc} ({LastError.Message})");
        }
        return pool!;
    }

    public static nint Alloc(DmaPool pool, long size, long align = 0, bool zero = false) =>
        (nint)pool.Alloc(size, align, zero);

    public static int Free(DmaPool pool, nint p) => pool.Free((void*)p);

    public static long Translate(DmaPool pool, nint p, out long contiguous) =>
        pool.Translate((void*)p, out contiguous);

    /// <summary>The end address of the region holding <paramref name="p"/>, 0 if none.</summary>
    public static long RegionEnd(DmaPool pool, nint p)
    {
        DmaRegion? r = pool.RegionOf((void*)p);
        return r == null ? 0 : (long)r.Base + r.Size;
    }

    public static void Fill(nint p, int size, byte value) => new Span<byte>((void*)p, size).Fill(value);

    public static bool IsZero(nint p, int size) => !new Span<byte>((void*)p, size).ContainsAnyExcept((byte)0);
}
