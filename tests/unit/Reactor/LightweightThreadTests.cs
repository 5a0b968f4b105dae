using NativeBdev.Abi;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using ThreadState = NativeBdev.Reactor.ThreadState;

namespace NativeBdev.Tests.Reactor;

[NotInParallel(Keys.Threads)]
public class LightweightThreadTests
{
    [Test]
    public async Task Create_registers_a_running_thread_with_a_live_handle()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("create-test");

        await Assert.That(t.State).IsEqualTo(ThreadState.Running);
        await Assert.That(t.Name).IsEqualTo("create-test");
        await Assert.That(HandleTable.Get<LightweightThread>(t.Handle, HandleType.Thread)).IsSameReferenceAs(t);
        await Assert.That(ThreadRegistry.Snapshot()).Contains(t);
    }

    [Test]
    public async Task Poll_runs_messages_in_order_within_the_batch_limit()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("order");
        var r = new Recorder();
        for (int i = 0; i < 10; i++)
        {
            Messages.Record(t, r, i);
        }
        int pendingBefore = t.PendingMessages;
        int[] work = { ThreadHost.Poll(t, 4), ThreadHost.Poll(t, 4), ThreadHost.Poll(t, 4), ThreadHost.Poll(t, 4) };

        await Assert.That(pendingBefore).IsEqualTo(10);
        await Assert.That(string.Join(",", work)).IsEqualTo("4,4,2,0");
        await Assert.That(string.Join(",", r.Args)).IsEqualTo("0,1,2,3,4,5,6,7,8,9");
        await Assert.That(r.Currents.All(c => c == t)).IsTrue();
        await Assert.That(t.MessagesProcessed).IsEqualTo(10);
        await Assert.That(LightweightThread.Current).IsNull();
    }

    [Test]
    public async Task Full_message_ring_refuses_with_ENOMEM()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("small-ring", capacity: 4);
        int[] rcs = Enumerable.Range(0, 5).Select(i => Messages.Noop(t, i)).ToArray();

        await Assert.That(string.Join(",", rcs)).IsEqualTo($"0,0,0,0,{-Errno.ENOMEM}");
    }

    [Test]
    public async Task Exit_life_cycle_destroy_before_exit_is_refused_and_exited_thread_takes_no_messages()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("life");
        var r = new Recorder();
        Messages.Record(t, r, 1);
        Messages.Record(t, r, 2);

        int destroyEarly = t.Destroy();
        int exitRc = t.RequestExit();
        int exitAgain = t.RequestExit();
        ThreadHost.Poll(t, 1); // one message left: the thread may not finish exiting yet
        ThreadState afterFirstPoll = t.State;
        int destroyWhileExiting = t.Destroy();
        ThreadHost.Poll(t, 1);
        ThreadState afterDrain = t.State;
        int sendAfterExit = Messages.Record(t, r, 3);
        int destroyRc = t.Destroy();

        await Assert.That(destroyEarly).IsEqualTo(-16);
        await Assert.That(exitRc).IsEqualTo(0);
        await Assert.That(exitAgain).IsEqualTo(-Errno.EALREADY);
        await Assert.That(afterFirstPoll).IsEqualTo(ThreadState.Exiting);
        await Assert.That(destroyWhileExiting).IsEqualTo(-16);
        await Assert.That(afterDrain).IsEqualTo(ThreadState.Exited);
        await Assert.That(sendAfterExit).IsEqualTo(-5);
        await Assert.That(string.Join(",", r.Args)).IsEqualTo("1,2");
        await Assert.That(destroyRc).IsEqualTo(0);
        await Assert.That(HandleTable.Get<LightweightThread>(t.Handle, HandleType.Thread)).IsNull();
        await Assert.That(ThreadRegistry.Snapshot()).DoesNotContain(t);
    }

    [Test]
    public async Task Poll_claim_is_exclusive()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("claim");
        bool first = t.TryEnterPoll();
        bool second = t.TryEnterPoll();
        int destroy = t.Destroy(); // not exited: refused whatever the claim
        t.ExitPoll();
        bool again = t.TryEnterPoll();
        t.ExitPoll();

        await Assert.That(first).IsTrue();
        await Assert.That(second).IsFalse();
        await Assert.That(destroy).IsEqualTo(-Errno.EBUSY);
        await Assert.That(again).IsTrue();
    }
}
