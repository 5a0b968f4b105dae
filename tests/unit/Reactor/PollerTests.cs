using System.Diagnostics;
using NativeBdev.Abi;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using ThreadState = NativeBdev.Reactor.ThreadState;

namespace NativeBdev.Tests.Reactor;

[NotInParallel(Keys.Threads)]
public class PollerTests
{
    [Test]
    public async Task Registering_needs_the_thread_to_be_current()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("not-current");
        var probe = new PollerProbe();
        int rc = t.RegisterPoller("x", 0, PollerProbe.Function, 0, probe, managed: true, out Poller? p);

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(p).IsNull();
        await Assert.That(t.PollerCount).IsEqualTo(0);
    }

    [Test]
    public async Task Active_poller_registered_from_a_message_runs_on_every_poll()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("active");
        var probe = new PollerProbe { Result = 0 };
        Messages.Run(t, () => probe.RegisterOnCurrent(0));
        ThreadHost.Poll(t); // runs the message; the new poller starts with the next poll
        int runsAfterRegister = probe.Runs;
        int[] work = new int[10];
        for (int i = 0; i < work.Length; i++)
        {
            probe.Result = i % 2; // busy on odd polls only
            work[i] = ThreadHost.Poll(t);
        }
        ThreadHost.OnThread(t, () => t.UnregisterPoller(probe.Self!));

        await Assert.That(probe.RegisterRc).IsEqualTo(0);
        await Assert.That(probe.Self!.Thread).IsSameReferenceAs(t);
        await Assert.That(probe.Runs - runsAfterRegister).IsEqualTo(10);
        await Assert.That(string.Join(",", work)).IsEqualTo("0,1,0,1,0,1,0,1,0,1");
        await Assert.That(probe.Self!.BusyCount).IsEqualTo(5);
    }

    [Test]
    public async Task Timed_poller_runs_once_per_period()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("timed");
        var probe = new PollerProbe();
        Poller p = probe.Register(t, 10_000);
        long elapsedMs = PollFor(t, 300);
        ThreadHost.OnThread(t, () => t.UnregisterPoller(p));

        // About 30; fewer when the machine is busy. Never more than one per elapsed period
        // (the loop may overrun 300 ms when the test thread is preempted).
        await Assert.That(probe.Runs).IsBetween(15, (int)(elapsedMs / 10) + 1);
    }

    [Test]
    public async Task Paused_poller_does_not_run_until_resumed()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("pause");
        var probe = new PollerProbe();
        Poller p = probe.Register(t, 0);
        PollTimes(t, 5);
        int pauseRc = ThreadHost.OnThread(t, () => t.SetPollerPaused(p, true));
        PollTimes(t, 5);
        int whilePaused = probe.Runs;
        int resumeRc = ThreadHost.OnThread(t, () => t.SetPollerPaused(p, false));
        PollTimes(t, 5);
        ThreadHost.OnThread(t, () => t.UnregisterPoller(p));

        await Assert.That(pauseRc).IsEqualTo(0);
        await Assert.That(whilePaused).IsEqualTo(5);
        await Assert.That(resumeRc).IsEqualTo(0);
        await Assert.That(probe.Runs).IsEqualTo(10);
    }

    [Test]
    public async Task Paused_timed_poller_resumes_one_period_later()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("pause-timed");
        var probe = new PollerProbe();
        Poller p = probe.Register(t, 1_000);
        ThreadHost.OnThread(t, () => t.SetPollerPaused(p, true));
        PollFor(t, 50);
        int whilePaused = probe.Runs;
        ThreadHost.OnThread(t, () => t.SetPollerPaused(p, false));
        long elapsedMs = PollFor(t, 50);
        ThreadHost.OnThread(t, () => t.UnregisterPoller(p));

        await Assert.That(whilePaused).IsEqualTo(0);
        await Assert.That(probe.Runs).IsBetween(5, (int)elapsedMs + 1);
    }

    [Test]
    public async Task Poller_can_unregister_itself_and_never_runs_again()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("self-unregister");
        var probe = new PollerProbe { UnregisterOnRun = 3 };
        Poller p = probe.Register(t, 0);
        PollTimes(t, 10);
        int secondUnregister = ThreadHost.OnThread(t, () => t.UnregisterPoller(p));

        await Assert.That(probe.UnregisterRc).IsEqualTo(0);
        await Assert.That(probe.Runs).IsEqualTo(3);
        await Assert.That(p.State).IsEqualTo(PollerState.Unregistered);
        await Assert.That(t.PollerCount).IsEqualTo(0);
        await Assert.That(HandleTable.Get<Poller>(p.Handle, HandleType.Poller)).IsNull();
        await Assert.That(secondUnregister).IsEqualTo(-Errno.EINVAL);
    }

    [Test]
    public async Task Exit_waits_for_pollers_to_be_unregistered()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("exit-pollers");
        var probe = new PollerProbe();
        Poller p = probe.Register(t, 0);
        t.RequestExit();
        PollTimes(t, 3);
        ThreadState withPoller = t.State;
        int lateRegister = ThreadHost.OnThread(t, () => new PollerProbe().RegisterOnCurrent(0));
        ThreadHost.OnThread(t, () => t.UnregisterPoller(p));
        ThreadHost.Poll(t);

        await Assert.That(withPoller).IsEqualTo(ThreadState.Exiting);
        await Assert.That(lateRegister).IsEqualTo(-Errno.EINVAL);
        await Assert.That(t.State).IsEqualTo(ThreadState.Exited);
    }

    private static void PollTimes(LightweightThread t, int n)
    {
        for (int i = 0; i < n; i++)
        {
            ThreadHost.Poll(t);
        }
    }

    /// <summary>Polls in a tight loop for <paramref name="milliseconds"/>; returns the time
    /// it really took.</summary>
    private static long PollFor(LightweightThread t, int milliseconds)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < milliseconds)
        {
            ThreadHost.Poll(t);
        }
        return sw.ElapsedMilliseconds;
    }
}
