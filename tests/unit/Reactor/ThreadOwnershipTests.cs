using NativeBdev.Abi;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

/// <summary>One owner per thread, the control queue, the send gate, a channel asked for from its
/// own create callback, and what a forced exit releases.</summary>
[NotInParallel(Keys.Threads)]
public class ThreadOwnershipTests
{
    [Test]
    public async Task A_binding_owns_the_thread_until_released()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("owned");
        int bound = LightweightThread.Bind(t);
        int fromOther = -1, pollFromOther = -1;
        string message = "";
        var other = new Thread(() =>
        {
            fromOther = LightweightThread.Bind(t);
            message = LastError.Message;
            pollFromOther = t.HostPoll(0, 0);
        });
        other.Start();
        other.Join();
        int ownPoll = t.HostPoll(0, 0);
        int released = LightweightThread.Bind(null);
        bool freeAgain = t.TryEnterPoll();
        t.ExitPoll();

        await Assert.That(bound).IsEqualTo(0);
        await Assert.That(fromOther).IsEqualTo(-Errno.EBUSY);
        await Assert.That(message).Contains($"bound with nb_set_thread by OS thread {LightweightThread.OsThreadId}");
        await Assert.That(pollFromOther).IsEqualTo(-Errno.EBUSY);
        await Assert.That(ownPoll).IsGreaterThanOrEqualTo(0);
        await Assert.That(released).IsEqualTo(0);
        await Assert.That(freeAgain).IsTrue();
    }

    [Test]
    public async Task Control_messages_pass_a_full_ring_and_run_first()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("full", capacity: 4);
        var r = new Recorder();
        int accepted = 0;
        while (Messages.Record(t, r, 1) == 0)
        {
            accepted++;
        }
        int control = Messages.RecordControl(t, r, 2);
        int pending = t.PendingControlMessages;
        ThreadHost.Poll(t);

        await Assert.That(accepted).IsGreaterThan(0);
        await Assert.That(control).IsEqualTo(0);
        await Assert.That(pending).IsEqualTo(1);
        await Assert.That(r.Args[0]).IsEqualTo((nint)2);
        await Assert.That(r.Args.Count).IsEqualTo(accepted + 1);
        await Assert.That(t.PendingMessages).IsEqualTo(0);
    }

    [Test]
    public async Task Destroy_runs_what_was_accepted_and_refuses_the_rest()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("gate");
        var r = new Recorder();
        t.RequestExit();
        ThreadHost.PollUntil(() => t.IsExited, t);
        int destroyed = t.Destroy();
        int late = Messages.Record(t, r, 1);
        int lateControl = Messages.RecordControl(t, r, 2);

        await Assert.That(destroyed).IsEqualTo(0);
        await Assert.That(late).IsEqualTo(-Errno.EIO);
        await Assert.That(lateControl).IsEqualTo(-Errno.EIO);
        await Assert.That(r.Args.Count).IsEqualTo(0);
    }

    [Test]
    public async Task A_get_from_inside_its_own_create_callback_is_refused()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nested-get");
        var dev = new NestingIoDevice();
        IoDevice.Register(dev);
        int rc = dev.Get(t, out IoChannel? ch);
        int inner = dev.InnerResult;
        string innerMessage = dev.InnerMessage;
        int count = t.Channels.Count;
        TestIoDevice.Put(ch!);
        ThreadHost.Poll(t);
        bool unregistered = false;
        ThreadHost.OnThread(t, () => dev.Unregister(() => unregistered = true));
        ThreadHost.PollUntil(() => unregistered, t);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(inner).IsEqualTo(-Errno.EDEADLK);
        await Assert.That(innerMessage).Contains("inside its own create callback");
        await Assert.That(count).IsEqualTo(1);
        await Assert.That(unregistered).IsTrue();
    }

    [Test]
    public async Task A_forced_exit_destroys_the_channels_left_newest_first()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("forced");
        t.ExitTimeoutTicks = Ticks.FromMicroseconds(1000);
        var lower = new TestIoDevice("lower");
        var upper = new TestIoDevice("upper");
        IoDevice.Register(lower);
        IoDevice.Register(upper);
        lower.Get(t, out IoChannel? a);
        upper.Get(t, out IoChannel? b);
        bool unregistered = false;
        lower.Unregister(() => unregistered = true);
        t.RequestExit();
        ThreadHost.PollUntil(() => t.IsExited, t);
        bool staleA = HandleTable.Get<IoChannel>(a!.Handle, HandleType.IoChannel) == null;
        bool staleB = HandleTable.Get<IoChannel>(b!.Handle, HandleType.IoChannel) == null;

        await Assert.That(t.IsExited).IsTrue();
        await Assert.That(lower.Destroys).IsEqualTo(1);
        await Assert.That(upper.Destroys).IsEqualTo(1);
        await Assert.That(b.Sequence).IsGreaterThan(a.Sequence);
        await Assert.That(t.Channels.Count).IsEqualTo(0);
        await Assert.That(staleA && staleB).IsTrue();
        await Assert.That(unregistered).IsTrue();
        upper.Unregister(null);
    }

    [Test]
    public async Task A_nested_poll_of_the_same_thread_says_so()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nested-poll");
        int nested = 1;
        string message = "";
        Messages.Run(t, () =>
        {
            nested = t.HostPoll(0, 0);
            message = LastError.Message;
        });
        t.HostPoll(0, 0);

        await Assert.That(nested).IsEqualTo(-Errno.EBUSY);
        await Assert.That(message).Contains("inside a poll of the same thread");
        await Assert.That(message).DoesNotContain("another OS thread");
    }
}
