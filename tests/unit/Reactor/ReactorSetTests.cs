using System.Diagnostics;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

[NotInParallel(Keys.Threads)]
public class ReactorSetTests
{
    private static CpuSet Cores01 => new() { [0] = true, [1] = true };

    [Test]
    public async Task Reactors_poll_threads_and_timers_without_the_host()
    {
        int start = ReactorSet.Start(Cores01, spinMicroseconds: 100);
        int again = ReactorSet.Start(Cores01, spinMicroseconds: 100);
        LightweightThread.Create("on-reactor", null, out LightweightThread? t);
        var checker = new OrderChecker(1);
        var probe = new PollerProbe();
        bool onReactor = false, delivered, timerRan, exited;
        int destroy;
        try
        {
            for (int i = 0; i < 1000; i++)
            {
                Messages.Check(t!, checker, OrderChecker.Encode(0, i));
            }
            Messages.Run(t!, () => onReactor = ReactorSet.OnReactor);
            delivered = WaitFor(() => Volatile.Read(ref checker.Delivered) == 1000);
            Messages.Run(t!, () => probe.RegisterOnCurrent(1_000));
            timerRan = WaitFor(() => Volatile.Read(ref probe.Runs) >= 20);
            Messages.Run(t!, () => t!.UnregisterPoller(probe.Self!));
            t!.RequestExit();
            exited = WaitFor(() => t.IsExited);
            destroy = DestroyWhenReleased(t);
        }
        finally
        {
            StopReactors();
        }

        await Assert.That(start).IsEqualTo(0);
        await Assert.That(again).IsEqualTo(-Errno.EALREADY);
        await Assert.That(delivered).IsTrue();
        await Assert.That(checker.Errors).IsEqualTo(0);
        await Assert.That(onReactor).IsTrue();
        await Assert.That(probe.RegisterRc).IsEqualTo(0);
        await Assert.That(timerRan).IsTrue();
        await Assert.That(exited).IsTrue();
        await Assert.That(destroy).IsEqualTo(0);
    }

    [Test]
    public async Task Stop_joins_the_reactors_and_threads_become_host_driven()
    {
        using var host = new ThreadHost();
        LightweightThread before = host.Create("placed-at-start");
        int start = ReactorSet.Start(Cores01, spinMicroseconds: 0);
        bool placed = WaitFor(() => before.Reactor != null);
        int stop = ReactorSet.Stop();
        int stopAgain = ReactorSet.Stop();
        bool running = ReactorSet.Running;
        bool released = WaitFor(() => before.Reactor == null);
        var r = new Recorder();
        Messages.Record(before, r, 42);
        ThreadHost.Poll(before);

        await Assert.That(start).IsEqualTo(0);
        await Assert.That(placed).IsTrue();
        await Assert.That(stop).IsEqualTo(0);
        await Assert.That(stopAgain).IsEqualTo(-Errno.EALREADY);
        await Assert.That(running).IsFalse();
        await Assert.That(released).IsTrue();
        await Assert.That(string.Join(",", r.Args)).IsEqualTo("42");
    }

    [Test]
    public async Task Start_refuses_a_core_the_process_cannot_use()
    {
        int rc = ReactorSet.Start(CpuSet.Single(CpuSet.MaxCpus - 1), 100);
        if (rc == 0)
        {
            ReactorSet.Stop();
        }

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(ReactorSet.Running).IsFalse();
    }

    private static bool WaitFor(Func<bool> condition)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > ThreadHost.Deadline)
            {
                return false;
            }
            Thread.Sleep(1);
        }
        return true;
    }

    /// <summary>The reactor may still hold the poll claim for an instant after the thread
    /// reports Exited, so -EBUSY is retried until the deadline.</summary>
    private static int DestroyWhenReleased(LightweightThread t)
    {
        int rc = t.Destroy();
        var sw = Stopwatch.StartNew();
        while (rc == -Errno.EBUSY && sw.Elapsed < ThreadHost.Deadline)
        {
            Thread.Sleep(1);
            rc = t.Destroy();
        }
        return rc;
    }

    private static void StopReactors()
    {
        if (ReactorSet.Running)
        {
            ReactorSet.Stop();
        }
    }
}
