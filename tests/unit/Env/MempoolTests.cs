using NativeBdev.Abi;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Env;

public class MempoolTests
{
    private const long MiB = 1L << 20;

    [Test]
    public async Task Every_element_can_be_taken_once_then_the_pool_is_empty()
    {
        using DmaPool dma = Dma.Create(4 * MiB, 64 * MiB);
        Mempool pool = Pool.Create(dma, 100, 100, 0);
        var taken = new HashSet<nint>();
        for (nint e; (e = Pool.Get(pool)) != 0;)
        {
            taken.Add(e);
        }
        int availableWhenEmpty = pool.Available;
        foreach (nint e in taken)
        {
            Pool.Put(pool, e);
        }

        await Assert.That(taken.Count).IsEqualTo(100);
        await Assert.That(taken.All(e => e % 64 == 0)).IsTrue();
        await Assert.That(pool.ElementSize).IsEqualTo(128); // rounded up to cache lines
        await Assert.That(availableWhenEmpty).IsEqualTo(0);
        await Assert.That(pool.Available).IsEqualTo(100);
        await Assert.That(pool.Free()).IsEqualTo(0);
    }

    [Test]
    public async Task Free_is_refused_while_an_element_is_out()
    {
        using DmaPool dma = Dma.Create(4 * MiB, 64 * MiB);
        Mempool pool = Pool.Create(dma, 16, 64, 0);
        nint handle = pool.Handle;
        nint e = Pool.Get(pool);
        int busy = pool.Free();
        string message = LastError.Message;
        Pool.Put(pool, e);
        int free = pool.Free();

        await Assert.That(busy).IsEqualTo(-Errno.EBUSY);
        await Assert.That(message).Contains("1 of 16");
        await Assert.That(free).IsEqualTo(0);
        await Assert.That(HandleTable.Get<Mempool>(handle, HandleType.Mempool)).IsNull();
        await Assert.That(dma.AllocationCount).IsEqualTo(0);
    }

    [Test]
    public async Task Owns_accepts_element_starts_only()
    {
        using DmaPool dma = Dma.Create(4 * MiB, 64 * MiB);
        Mempool pool = Pool.Create(dma, 8, 64, 0);
        nint foreign = Dma.Alloc(dma, 64);
        nint[] all = Enumerable.Range(0, 8).Select(_ => Pool.Get(pool)).ToArray();
        nint e = all[3], lowest = all.Min();
        nint end = lowest + 8 * pool.ElementSize;
        foreach (nint x in all)
        {
            Pool.Put(pool, x);
        }

        await Assert.That(Pool.Owns(pool, e)).IsTrue();
        await Assert.That(Pool.Owns(pool, e + 1)).IsFalse();
        await Assert.That(Pool.Owns(pool, e + pool.ElementSize / 2)).IsFalse();
        await Assert.That(Pool.Owns(pool, lowest - pool.ElementSize)).IsFalse();
        await Assert.That(Pool.Owns(pool, end - pool.ElementSize)).IsTrue();
        await Assert.That(Pool.Owns(pool, end)).IsFalse();
        await Assert.That(Pool.Owns(pool, foreign)).IsFalse();
        await Assert.That(Pool.Owns(pool, 0)).IsFalse();
        await Assert.That(pool.Free()).IsEqualTo(0);
    }

    [Test]
    public async Task Bad_parameters_are_refused()
    {
        using DmaPool dma = Dma.Create(MiB, MiB);
        int[] rcs =
        {
            Mempool.Create(dma, "x", 0, 64, 0, out _),
            Mempool.Create(dma, "x", 16, 0, 0, out _),
            Mempool.Create(dma, "x", 16, 64, Mempool.MaxCacheSize + 1, out _),
            Mempool.Create(dma, "x", 1 << 20, 4096, 0, out _), // 4 GiB: the DMA pool is 1 MiB
        };

        await Assert.That(string.Join(",", rcs)).IsEqualTo("-22,-22,-22,-12");
    }

    [Test]
    [NotInParallel(Keys.Threads)]
    public async Task Thread_cache_is_flushed_when_its_thread_is_destroyed()
    {
        using DmaPool dma = Dma.Create(4 * MiB, 64 * MiB);
        Mempool pool = Pool.Create(dma, 64, 64, 16);
        int destroyed;
        int cachedWhileBound, ringAfterDestroy;
        using (var host = new ThreadHost())
        {
            LightweightThread t = host.Create("cache");
            cachedWhileBound = ThreadHost.OnThread(t, () =>
            {
                nint e = Pool.Get(pool); // refills half a cache from the ring
                Pool.Put(pool, e);
                return pool.Available;
            });
            destroyed = ThreadHost.ExitAndDestroy(t);
            ringAfterDestroy = CountRing(pool);
        }

        await Assert.That(cachedWhileBound).IsEqualTo(64);
        await Assert.That(destroyed).IsEqualTo(0);
        await Assert.That(ringAfterDestroy).IsEqualTo(64);
        await Assert.That(pool.Free()).IsEqualTo(0);
    }

    /// <summary>Elements reachable without a thread bound, i.e. in the shared ring.</summary>
    private static int CountRing(Mempool pool) => Pool.ZeroAll(pool);
}
