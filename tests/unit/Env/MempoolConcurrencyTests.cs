using NativeBdev.Env;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Env;

[NotInParallel(Keys.Threads)]
public class MempoolConcurrencyTests
{
    private sealed class Stats
    {
        public long Violations;
        public long EmptyGets;
        public long Failures; // exceptions on a worker (e.g. a Debug.Assert in the pool)
        public string? FirstFailure;
    }

    [Test]
    public async Task Four_OS_threads_never_hold_the_same_element_at_once()
    {
        const int workers = 4, pairs = 100_000, count = 32;
        using DmaPool dma = Dma.Create(1L << 20, 64L << 20);
        Mempool pool = Pool.Create(dma, count, 64, cacheSize: 8);
        int zeroed = Pool.ZeroAll(pool); // the owner word of every element starts at 0
        var stats = new Stats();
        int available, ringBeforeDestroy, ringAfterDestroy;
        using (var host = new ThreadHost())
        {
            // Workers 0 and 1 run with a lightweight thread bound (per-thread cache path),
            // 2 and 3 without (shared ring only).
            LightweightThread?[] bound = { host.Create("mp-0"), host.Create("mp-1"), null, null };
            Thread[] threads = Enumerable.Range(0, workers).Select(id => new Thread(() =>
            {
                LightweightThread.Bind(bound[id]);
                try
                {
                    Work(pool, id + 1, pairs, stats);
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref stats.Failures);
                    Interlocked.CompareExchange(ref stats.FirstFailure, e.Message, null);
                }
                finally
                {
                    LightweightThread.Bind(null);
                }
            })).ToArray();
            foreach (Thread t in threads)
            {
                t.Start();
            }
            foreach (Thread t in threads)
            {
                t.Join();
            }
            available = pool.Available;
            ringBeforeDestroy = Pool.ZeroAll(pool);
            ThreadHost.ExitAndDestroy(bound[0]!);
            ThreadHost.ExitAndDestroy(bound[1]!);
            ringAfterDestroy = Pool.ZeroAll(pool);
        }

        await Assert.That(zeroed).IsEqualTo(count);
        await Assert.That(stats.FirstFailure).IsNull();
        await Assert.That(stats.Violations).IsEqualTo(0);
        await Assert.That(available).IsEqualTo(count);
        await Assert.That(ringBeforeDestroy).IsLessThan(count); // the caches held some
        await Assert.That(ringAfterDestroy).IsEqualTo(count);
        await Assert.That(pool.Free()).IsEqualTo(0);
    }

    /// <summary>Get/put pairs; each holder stamps its id into the element's first word and
    /// checks, after a short hold, that nobody else stamped it meanwhile.</summary>
    private static unsafe void Work(Mempool pool, long id, int pairs, Stats stats)
    {
        for (int i = 0; i < pairs; i++)
        {
            long* e;
            while ((e = (long*)pool.Get()) == null)
            {
                Interlocked.Increment(ref stats.EmptyGets);
                Thread.Yield();
            }
            if (Interlocked.Exchange(ref *e, id) != 0)
            {
                Interlocked.Increment(ref stats.Violations);
            }
            Thread.SpinWait(i % 8 * 4);
            if (Interlocked.Exchange(ref *e, 0) != id)
            {
                Interlocked.Increment(ref stats.Violations);
            }
            pool.TryPut(e);
        }
    }
}
