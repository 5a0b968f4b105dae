using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

[NotInParallel(Keys.Threads)]
public class MessageDeliveryTests
{
    [Test]
    public async Task Messages_from_several_OS_threads_arrive_once_in_per_producer_order()
    {
        const int producers = 4, perProducer = 50_000;
        using var host = new ThreadHost();
        LightweightThread t = host.Create("mp", capacity: 1024);
        var checker = new OrderChecker(producers);
        long refusals = 0, otherErrors = 0;
        Thread[] threads = Enumerable.Range(0, producers).Select(id => new Thread(() =>
        {
            for (int seq = 0; seq < perProducer; seq++)
            {
                int rc;
                while ((rc = Messages.Check(t, checker, OrderChecker.Encode(id, seq))) == -Errno.ENOMEM)
                {
                    Interlocked.Increment(ref refusals); // ring full: the consumer catches up
                    Thread.Yield();
                }
                if (rc != 0)
                {
                    Interlocked.Increment(ref otherErrors);
                }
            }
        })).ToArray();
        foreach (Thread p in threads)
        {
            p.Start();
        }
        bool done = ThreadHost.PollUntil(() => Volatile.Read(ref checker.Delivered) == producers * perProducer, t);
        foreach (Thread p in threads)
        {
            p.Join();
        }
        int extra = ThreadHost.Poll(t);

        await Assert.That(done).IsTrue();
        await Assert.That(otherErrors).IsEqualTo(0);
        await Assert.That(checker.Errors).IsEqualTo(0);
        await Assert.That(checker.Next.All(n => n == perProducer)).IsTrue();
        await Assert.That(extra).IsEqualTo(0);
    }

    [Test]
    public async Task Send_and_poll_of_a_managed_message_allocate_nothing()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("alloc");
        long bytes = MeasureSendPoll(t, 1_000); // warm-up: JIT, thread statics
        // Steady state: tiered compilation may still be installing code during the first
        // measured run (seen once in many runs), so the claim is that a full run of 100k
        // allocates nothing, within three tries.
        int runs = 0;
        do
        {
            bytes = MeasureSendPoll(t, 100_000);
            runs++;
        }
        while (bytes != 0 && runs < 3);

        await Assert.That(bytes).IsEqualTo(0);
        await Assert.That(t.MessagesProcessed).IsEqualTo(1_000 + runs * 100_000L);
    }

    private static long MeasureSendPoll(LightweightThread t, int cycles)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < cycles; i++)
        {
            if (Messages.Noop(t, i) != 0 || !t.TryEnterPoll())
            {
                return -1;
            }
            t.Poll(0, 0);
            t.ExitPoll();
        }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
