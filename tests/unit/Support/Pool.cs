using NativeBdev.Env;

namespace NativeBdev.Tests.Support;

/// <summary>Pointer-free wrappers over Mempool for the async tests.</summary>
internal static unsafe class Pool
{
    public static Mempool Create(DmaPool dma, long count, long elementSize, long cacheSize)
    {
        int rc = Mempool.Create(dma, "test", count, elementSize, cacheSize, out Mempool? pool);
        if (rc != 0)
        {
            throw new InvalidOperationException($"Mempool.Create: {rc} ({LastError.Message})");
        }
        return pool!;
    }

    public static nint Get(Mempool pool) => (nint)pool.Get();

    public static void Put(Mempool pool, nint element) => pool.TryPut((void*)element);

    public static bool Owns(Mempool pool, nint p) => pool.Owns((void*)p);

    /// <summary>Takes every element (through the shared ring), zeroes it and gives it back.</summary>
    public static int ZeroAll(Mempool pool)
    {
        var all = new List<nint>();
        for (nint e; (e = Get(pool)) != 0;)
        {
            new Span<byte>((void*)e, pool.ElementSize).Clear();
            all.Add(e);
        }
        foreach (nint e in all)
        {
            Put(pool, e);
        }
        return all.Count;
    }
}
