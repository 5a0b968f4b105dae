using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>Resets drain the bdev first: a reset reaches the backend, and completes, only
/// after the I/O outstanding when it was submitted has completed, on every channel. The
/// scripted backend completes a reset at once, so any waiting comes from the bdev layer.</summary>
[NotInParallel(Keys.Threads)]
public class BdevResetTests
{
    [Test]
    public async Task Reset_completes_after_the_io_outstanding_on_its_own_channel()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("reset-same");
        ScriptedBdev bdev = ScriptedBdev.Register("reset-same");
        BdevSession s = BdevSession.Open(t, bdev.Name);
        using var buf = new DmaBuffer(4096);
        var log = new IoLog();

        bdev.Hold = true;
        int rcs = s.Submit(BdevIoType.Write, buf.Pointer, 0, 1, log, 1)
                  | s.Submit(BdevIoType.Read, buf.Pointer, 1, 2, log, 2)
                  | s.Submit(BdevIoType.Unmap, 0, 8, 8, log, 3);
        int reset = s.Submit(BdevIoType.Reset, 0, 0, 0, log, 100);
        for (int i = 0; i < 10; i++)
        {
            ThreadHost.Poll(t);
        }
        int completedWhileHeld = log.Count;
        int resetsSeenWhileHeld = bdev.ResetsSeen;
        int outstanding = s.Channel.Outstanding; // resets are not counted
        bdev.Hold = false;
        bool done = ThreadHost.PollUntil(() => log.Count == 4, t);
        s.Close();
        Bdevs.DestroyAndWait(bdev.Name, t);

        await Assert.That(rcs).IsEqualTo(0);
        await Assert.That(reset).IsEqualTo(0);
        await Assert.That(completedWhileHeld).IsEqualTo(0);
        await Assert.That(resetsSeenWhileHeld).IsEqualTo(0);
        await Assert.That(outstanding).IsEqualTo(3);
        await Assert.That(done).IsTrue();
        await Assert.That(log.Order).IsEqualTo("1,2,3,100");
        await Assert.That(log.Statuses).IsEqualTo("0,0,0,0");
        await Assert.That(log.Done[3].Type).IsEqualTo(BdevIoType.Reset);
        await Assert.That(bdev.ResetsSeen).IsEqualTo(1);
    }

    [Test]
    public async Task Reset_waits_for_io_outstanding_on_other_threads_channels()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("reset-a"), b = host.Create("reset-b");
        ScriptedBdev bdev = ScriptedBdev.Register("reset-cross");
        BdevSession sa = BdevSession.Open(a, bdev.Name);
        BdevSession sb = BdevSession.Open(b, bdev.Name);
        using var buf = new DmaBuffer(4096);
        var log = new IoLog();

        bdev.Hold = true;
        int rcs = sb.Submit(BdevIoType.Read, buf.Pointer, 0, 1, log, 1) |
            sb.Submit(BdevIoType.Write, buf.Pointer, 5, 1, log, 2);
        int reset = sa.Submit(BdevIoType.Reset, 0, 0, 0, log, 100);
        for (int i = 0; i < 10; i++)
        {
            ThreadHost.Poll(a);
            ThreadHost.Poll(b);
        }
        int completedWhileHeld = log.Count;
        bdev.Hold = false;
        bool done = ThreadHost.PollUntil(() => log.Count == 3, a, b);
        sa.Close();
        sb.Close();
        Bdevs.DestroyAndWait(bdev.Name, a, b);

        await Assert.That(rcs | reset).IsEqualTo(0);
        await Assert.That(completedWhileHeld).IsEqualTo(0);
        await Assert.That(done).IsTrue();
        await Assert.That(log.Order).IsEqualTo("1,2,100");
        await Assert.That(log.Done[2].Thread).IsSameReferenceAs(a);
        await Assert.That(log.Done[0].Thread).IsSameReferenceAs(b);
        await Assert.That(bdev.ResetsSeen).IsEqualTo(1);
    }

    [Test]
    public async Task Reset_of_an_idle_malloc_bdev_completes_on_the_following_polls()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("reset-idle");
        string name = Bdevs.Malloc("reset-idle", "size_mb=1");
        BdevSession s = BdevSession.Open(t, name);
        var log = new IoLog();

        int rc = s.Submit(BdevIoType.Reset, 0, 0, 0, log, 7);
        int beforePoll = log.Count;
        ThreadHost.Poll(t); // drained: the reset goes to the backend
        ThreadHost.Poll(t); // and its deferred completion is delivered
        int after = log.Count;
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(beforePoll).IsEqualTo(0);
        await Assert.That(after).IsEqualTo(1);
        await Assert.That(log.Done[0].Status).IsEqualTo(0);
    }

    [Test]
    public async Task Reset_is_not_starved_by_io_submitted_after_it()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("reset-starve");
        ScriptedBdev bdev = ScriptedBdev.Register("reset-starve");
        BdevSession s = BdevSession.Open(t, bdev.Name);
        using var buf = new DmaBuffer(512);
        var chain = new Chain(s, buf.Pointer);
        var log = new IoLog();

        int started = chain.Start(depth: 4);
        int reset = s.Submit(BdevIoType.Reset, 0, 0, 0, log, 100);
        for (int i = 0; i < 200 && log.Count == 0; i++)
        {
            ThreadHost.Poll(t);
        }
        bool resetDoneUnderLoad = log.Count == 1;
        int completedBeforeReset = chain.Completed;
        chain.Running = false;
        bool drained = ThreadHost.PollUntil(() => log.Count == 1 && s.Channel.Outstanding == 0, t);
        s.Close();
        Bdevs.DestroyAndWait(bdev.Name, t);

        await Assert.That(started).IsEqualTo(0);
        await Assert.That(reset).IsEqualTo(0);
        await Assert.That(completedBeforeReset).IsGreaterThan(0);
        await Assert.That(resetDoneUnderLoad).IsTrue();
        await Assert.That(drained).IsTrue();
    }

    /// <summary>Keeps <c>depth</c> reads in flight, each resubmitted from its completion,
    /// while <see cref="Running"/>.</summary>
    private sealed unsafe class Chain(BdevSession s, nint buf)
    {
        public bool Running = true;
        public int Completed;

        public int Start(int depth)
        {
            int rc = 0;
            for (int i = 0; i < depth; i++)
            {
                rc |= Submit();
            }
            return rc;
        }

        private int Submit()
        {
            nint arg = IoTickets.Arg(&OnDone, this, 0);
            return IoTickets.FreeIfRefused(
                s.Channel.Submit(s.Desc, BdevIoType.Read, null, 0, (void*)buf, 0, 1, IoTickets.Callback, arg), arg);
        }

        private static void OnDone(BdevIo* io, int status, object? ctx, nint arg)
        {
            var c = (Chain)ctx!;
            c.Completed++;
            if (c.Running)
            {
                c.Submit();
            }
        }
    }
}
