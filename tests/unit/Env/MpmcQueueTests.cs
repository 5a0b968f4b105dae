using NativeBdev.Env;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Env;

public class MpmcQueueTests
{
    [Test]
    public async Task Full_queue_refuses_and_empty_queue_refuses()
    {
        var q = new MpmcQueue<int>(4);
        bool[] accepted = { q.TryEnqueue(1), q.TryEnqueue(2), q.TryEnqueue(3), q.TryEnqueue(4) };
        bool fifth = q.TryEnqueue(5);
        int countWhenFull = q.Count;
        var got = new List<int>();
        while (q.TryDequeue(out int v))
        {
            got.Add(v);
        }
        bool emptyRefuses = !q.TryDequeue(out _) && !q.TryDequeueSingle(out _);

        await Assert.That(accepted).DoesNotContain(false);
        await Assert.That(fifth).IsFalse();
        await Assert.That(countWhenFull).IsEqualTo(4);
        await Assert.That(string.Join(",", got)).IsEqualTo("1,2,3,4");
        await Assert.That(emptyRefuses).IsTrue();
        await Assert.That(q.IsEmpty).IsTrue();
    }

    [Test]
    public async Task Lazy_queue_takes_memory_as_items_arrive_and_keeps_its_exact_capacity()
    {
        // A thread's message ring: 16384 cells in 64 chunks of 256, none allocated at create.
        var q = new MpmcQueue<long>(16384, lazy: true);
        int atCreate = q.AllocatedCells;
        bool emptyAtCreate = q.IsEmpty && !q.TryDequeueSingle(out _) && !q.TryDequeue(out _);
        q.TryEnqueue(-1);
        int afterOne = q.AllocatedCells;
        q.TryDequeueSingle(out _);
        int accepted = 0;
        while (q.TryEnqueue(accepted))
        {
            accepted++;
        }
        int full = q.AllocatedCells;
        long order = 0;
        bool inOrder = true;
        for (int lap = 0; lap < 3; lap++) // around the ring again, across every chunk boundary
        {
            for (int i = 0; i < accepted; i++)
            {
                inOrder &= q.TryDequeue(out long v) && v == order++ && q.TryEnqueue(order + accepted - 1);
            }
        }

        await Assert.That(atCreate).IsEqualTo(0);
        await Assert.That(emptyAtCreate).IsTrue();
        await Assert.That(afterOne).IsEqualTo(256);
        await Assert.That(accepted).IsEqualTo(16384);
        await Assert.That(full).IsEqualTo(16384);
        await Assert.That(inOrder).IsTrue();
        await Assert.That(q.Count).IsEqualTo(16384);
    }

    [Test]
    public async Task Eager_queue_allocates_every_cell_at_construction()
    {
        var q = new MpmcQueue<nint>(1 << 16);

        await Assert.That(q.AllocatedCells).IsEqualTo(1 << 16);
        await Assert.That(q.IsEmpty).IsTrue();
    }

    [Test]
    public async Task Slots_are_reused_after_wrapping_around()
    {
        var q = new MpmcQueue<long>(2);
        long sum = 0;
        for (long i = 0; i < 1000; i++)
        {
            if (!q.TryEnqueue(i) || !q.TryDequeueSingle(out long v) || v != i)
            {
                sum = -1;
                break;
            }
            sum += v;
        }
        await Assert.That(sum).IsEqualTo(999L * 1000 / 2);
    }

    [Test]
    [NotInParallel(Keys.Threads)]
    [Arguments(false)]
    [Arguments(true)] // producers race to allocate the chunks
    public async Task Four_producers_one_consumer_deliver_everything_once_in_order(bool lazy)
    {
        const int producers = 4, perProducer = 200_000;
        var q = new MpmcQueue<long>(1024, lazy);
        long[] next = new long[producers];
        long errors = 0, received = 0;
        var consumer = new Thread(() =>
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (received < producers * perProducer && DateTime.UtcNow < deadline)
            {
                if (!q.TryDequeueSingle(out long item))
                {
                    Thread.SpinWait(20);
                    continue;
                }
                int p = (int)(item >> 32);
                if (next[p] != (item & 0xFFFFFFFF))
                {
                    errors++;
                }
                next[p] = (item & 0xFFFFFFFF) + 1;
                received++;
            }
        });
        consumer.Start();
        RunProducers(q, producers, perProducer);
        consumer.Join();

        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(received).IsEqualTo((long)producers * perProducer);
        await Assert.That(next).IsEquivalentTo(Enumerable.Repeat((long)perProducer, producers));
        await Assert.That(q.TryDequeueSingle(out _)).IsFalse();
    }

    [Test]
    [NotInParallel(Keys.Threads)]
    public async Task Two_consumers_each_item_delivered_once()
    {
        const int producers = 2, perProducer = 100_000;
        var q = new MpmcQueue<long>(256);
        int[] seen = new int[producers * perProducer];
        long orderErrors = 0, taken = 0;
        Thread[] consumers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            long[] last = { -1, -1 }; // per producer: a consumer still sees each producer in order
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Interlocked.Read(ref taken) < seen.Length && DateTime.UtcNow < deadline)
            {
                if (!q.TryDequeue(out long item))
                {
                    Thread.SpinWait(20);
                    continue;
                }
                int p = (int)(item >> 32), seq = (int)(item & 0xFFFFFFFF);
                if (seq <= last[p])
                {
                    Interlocked.Increment(ref orderErrors);
                }
                last[p] = seq;
                Interlocked.Increment(ref seen[p * perProducer + seq]);
                Interlocked.Increment(ref taken);
            }
        })).ToArray();
        foreach (Thread c in consumers)
        {
            c.Start();
        }
        RunProducers(q, producers, perProducer);
        foreach (Thread c in consumers)
        {
            c.Join();
        }

        await Assert.That(orderErrors).IsEqualTo(0);
        await Assert.That(seen.Count(n => n != 1)).IsEqualTo(0);
    }

    [Test]
    [NotInParallel(Keys.Threads)]
    public async Task Queue_that_cannot_be_full_never_refuses_an_enqueue()
    {
        // 32 items circulate through 32 slots: a thread enqueues only an item it dequeued,
        // so at most 31 are queued whenever one is enqueued. This is how a mempool uses its
        // ring, where a refused put loses an element.
        const int slots = 32, threads = 4, cycles = 200_000;
        var q = new MpmcQueue<long>(slots);
        for (long i = 0; i < slots; i++)
        {
            q.TryEnqueue(i);
        }
        long refusals = 0;
        Thread[] workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            for (int i = 0; i < cycles; i++)
            {
                long item;
                while (!q.TryDequeue(out item))
                {
                    Thread.SpinWait(1);
                }
                while (!q.TryEnqueue(item))
                {
                    Interlocked.Increment(ref refusals);
                    Thread.SpinWait(1);
                }
            }
        })).ToArray();
        foreach (Thread w in workers)
        {
            w.Start();
        }
        foreach (Thread w in workers)
        {
            w.Join();
        }

        await Assert.That(refusals).IsEqualTo(0);
        await Assert.That(q.Count).IsEqualTo(slots);
    }

    /// <summary>Each producer enqueues (id &lt;&lt; 32 | seq), spinning while the queue is full.</summary>
    private static void RunProducers(MpmcQueue<long> q, int producers, int perProducer)
    {
        Thread[] threads = Enumerable.Range(0, producers).Select(id => new Thread(() =>
        {
            for (long seq = 0; seq < perProducer; seq++)
            {
                var spin = new SpinWait();
                while (!q.TryEnqueue(((long)id << 32) | seq))
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }
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
    }
}
