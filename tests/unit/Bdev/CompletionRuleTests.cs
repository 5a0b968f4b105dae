using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>The one completion rule (SPDK's bdev_io_complete): a backend calls
/// BdevChannel.Complete from wherever it is; inside its Submit the layer queues the
/// completion for the next poll, from its poll the callback runs at once.</summary>
[NotInParallel(Keys.Threads)]
public class CompletionRuleTests
{
    [Test]
    public async Task A_completion_inside_submit_runs_on_the_next_poll_and_one_from_a_poll_at_once()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("rule");
        ScriptedBdev bdev = ScriptedBdev.Register("rule");
        BdevSession s = BdevSession.Open(t, bdev.Name);
        using var buf = new DmaBuffer(512);
        var log = new IoLog();

        // Completed inside Submit (Hold off): not before Submit returns.
        int rc1 = s.Submit(BdevIoType.Read, buf.Pointer, 0, 1, log, 1);
        int afterSubmit = log.Count;
        ThreadHost.Poll(t);
        int afterPoll = log.Count;

        // Completed by the backend's own poll (Hold on, then off): in that very poll.
        bdev.Hold = true;
        int rc2 = s.Submit(BdevIoType.Read, buf.Pointer, 1, 1, log, 2);
        ThreadHost.Poll(t);
        int whileHeld = log.Count;
        bdev.Hold = false;
        ThreadHost.Poll(t);
        int afterBackendPoll = log.Count;

        s.Close();
        Support.Bdevs.DestroyAndWait(bdev.Name, t);
        await Assert.That(rc1).IsEqualTo(0);
        await Assert.That(afterSubmit).IsEqualTo(0);
        await Assert.That(afterPoll).IsEqualTo(1);
        await Assert.That(rc2).IsEqualTo(0);
        await Assert.That(whileHeld).IsEqualTo(1);
        await Assert.That(afterBackendPoll).IsEqualTo(2);
        await Assert.That(log.Statuses).IsEqualTo("0,0");
    }
}
