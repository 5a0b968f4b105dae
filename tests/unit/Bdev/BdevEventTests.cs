using NativeBdev.Abi;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>BdevRegistry's control paths: open, destroy with open descriptors (REMOVE),
/// resize (RESIZE), media events (MEDIA_MANAGEMENT).</summary>
[NotInParallel(Keys.Threads)]
public class BdevEventTests
{
    private static unsafe int OpenUnbound(string name, out BdevDesc? desc) =>
        BdevRegistry.Open(name, false, null, null, null, out desc);

    private static string Types(BdevSession s) => string.Join(",", s.Events.Select(e => e.Type));

    [Test]
    public async Task Open_needs_a_current_thread_and_an_existing_bdev()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("open");
        string name = Bdevs.Null("open");
        LastError.Clear();
        int unbound = OpenUnbound(name, out BdevDesc? none);
        string unboundMessage = LastError.Message;
        int missing = BdevSession.TryOpen(t, name + "-missing", false, out _);
        BdevSession ro = BdevSession.Open(t, name, write: false, channel: false);
        BdevSession rw = BdevSession.Open(t, name, write: true, channel: false);
        int descriptors = ro.Bdev.Descriptors.Count;
        bool handlesLive = HandleTable.Get<BdevDesc>(ro.Desc.Handle, HandleType.BdevDesc) == ro.Desc;
        int close = ro.CloseDesc();
        int closeAgain = ro.CloseDesc();
        rw.CloseDesc();
        bool handleReleased = HandleTable.Get<BdevDesc>(ro.Desc.Handle, HandleType.BdevDesc) == null;
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(unbound).IsEqualTo(-Errno.EINVAL);
        await Assert.That(unboundMessage).Contains("no current thread");
        await Assert.That(none).IsNull();
        await Assert.That(missing).IsEqualTo(-Errno.ENODEV);
        await Assert.That(ro.Desc.Writable).IsFalse();
        await Assert.That(rw.Desc.Writable).IsTrue();
        await Assert.That(ro.Desc.Thread).IsSameReferenceAs(t);
        await Assert.That(descriptors).IsEqualTo(2);
        await Assert.That(handlesLive).IsTrue();
        await Assert.That(close).IsEqualTo(0);
        await Assert.That(closeAgain).IsEqualTo(-Errno.EBADF);
        await Assert.That(handleReleased).IsTrue();
    }

    [Test]
    public async Task Destroy_of_an_open_bdev_removes_it_only_after_every_descriptor_and_channel_is_gone()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("rm-a"), b = host.Create("rm-b");
        ScriptedBdev bdev = ScriptedBdev.Register("rm");
        string name = bdev.Name;
        BdevSession sa = BdevSession.Open(a, name, write: true);
        BdevSession sb = BdevSession.Open(b, name, write: false);
        BdevSession sc = BdevSession.Open(a, name, write: false, channel: false); // a descriptor without a channel
        using var buf = new DmaBuffer(4096);
        var log = new IoLog();
        var timeline = new List<string>();

        // Two I/Os in flight on a when the bdev goes.
        bdev.Hold = true;
        int w1 = sa.Submit(BdevIoType.Write, buf.Pointer, 0, 1, log, 1);
        int r2 = sa.Submit(BdevIoType.Read, buf.Pointer, 1, 1, log, 2);
        int destroy = BdevRegistry.Destroy(name, status => timeline.Add($"done({status})"));
        int secondDestroy = BdevRegistry.Destroy(name, status => timeline.Add($"done2({status})"));

        // From now on: not found, not openable, no new I/O.
        LastError.Clear();
        int newIo = sa.Submit(BdevIoType.Read, buf.Pointer, 0, 1, log, 3);
        string newIoMessage = LastError.Message;
        int newIoB = sb.Submit(BdevIoType.Read, buf.Pointer, 0, 1, log, 4);
        int reopen = BdevSession.TryOpen(a, name, false, out _);
        bool found = BdevRegistry.Find(name) != null;
        int eventsBeforePoll = sa.Events.Count + sb.Events.Count + sc.Events.Count;

        ThreadHost.Poll(a);
        ThreadHost.Poll(b);
        var eventsA = sa.Events.ToList();
        var eventsB = sb.Events.ToList();
        var eventsC = sc.Events.ToList();
        int completedWhileHeld = log.Count;

        // The backend finishes the I/Os accepted before the destroy: their callbacks run.
        bdev.Hold = false;
        ThreadHost.PollUntil(() => log.Count == 2, a);
        string order = log.Order;
        string statuses = log.Statuses;

        // a closes fully; b closes its descriptor but keeps its channel for a while; c, with
        // no channel at all, closes last.
        sa.Close();
        timeline.Add("a closed");
        sb.CloseDesc();
        timeline.Add("b desc closed");
        for (int i = 0; i < 10; i++)
        {
            ThreadHost.Poll(a);
            ThreadHost.Poll(b);
        }
        bool destructedBeforePut = bdev.Destructed;
        timeline.Add("b channel put");
        sb.PutChannel();
        for (int i = 0; i < 10; i++)
        {
            ThreadHost.Poll(a);
            ThreadHost.Poll(b);
        }
        bool destructedBeforeC = bdev.Destructed;
        timeline.Add("c closed");
        sc.CloseDesc();
        bool finished = ThreadHost.PollUntil(() => timeline.Count == 6, a, b);

        await Assert.That(w1 + r2).IsEqualTo(0);
        await Assert.That(destroy).IsEqualTo(0);
        await Assert.That(secondDestroy).IsEqualTo(0);
        await Assert.That(newIo).IsEqualTo(-Errno.ENODEV);
        await Assert.That(newIoMessage).Contains("being removed");
        await Assert.That(newIoB).IsEqualTo(-Errno.ENODEV);
        await Assert.That(reopen).IsEqualTo(-Errno.ENODEV);
        await Assert.That(found).IsFalse();
        await Assert.That(eventsBeforePoll).IsEqualTo(0);
        await Assert.That(eventsA.Count).IsEqualTo(1);
        await Assert.That(eventsA[0].Type).IsEqualTo(BdevEventType.Remove);
        await Assert.That(eventsA[0].On).IsSameReferenceAs(a);
        await Assert.That(eventsB.Count).IsEqualTo(1);
        await Assert.That(eventsB[0].Type).IsEqualTo(BdevEventType.Remove);
        await Assert.That(eventsB[0].On).IsSameReferenceAs(b);
        await Assert.That(eventsC.Count).IsEqualTo(1);
        await Assert.That(eventsC[0].Type).IsEqualTo(BdevEventType.Remove);
        await Assert.That(eventsC[0].On).IsSameReferenceAs(a);
        await Assert.That(completedWhileHeld).IsEqualTo(0);
        await Assert.That(order).IsEqualTo("1,2");
        await Assert.That(statuses).IsEqualTo("0,0");
        await Assert.That(destructedBeforePut).IsFalse();
        await Assert.That(destructedBeforeC).IsFalse();
        await Assert.That(finished).IsTrue();
        await Assert.That(string.Join(" | ", timeline))
            .IsEqualTo("a closed | b desc closed | b channel put | c closed | done(0) | done2(0)");
        await Assert.That(bdev.Destructed).IsTrue();
        await Assert.That(bdev.State).IsEqualTo(BdevState.Removed);
    }

    [Test]
    public async Task Events_go_only_to_open_descriptors()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("closed-events");
        string name = Bdevs.Null("closed-events");
        BdevSession open = BdevSession.Open(t, name, channel: false);
        BdevSession closed = BdevSession.Open(t, name, channel: false);
        // The event is queued while both are open; one closes before it is delivered.
        int resize = Bdevs.Find(name).Resize(100);
        closed.CloseDesc();
        ThreadHost.Poll(t);
        open.CloseDesc();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(resize).IsEqualTo(0);
        await Assert.That(Types(open)).IsEqualTo("Resize");
        await Assert.That(closed.Events.Count).IsEqualTo(0);
    }

    [Test]
    public async Task Resize_of_a_null_bdev_tells_every_descriptor_and_bounds_later_io()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("resize-a"), b = host.Create("resize-b");
        string name = Bdevs.Null("resize", "num_blocks=1000");
        BlockDevice bdev = Bdevs.Find(name);
        BdevSession sa = BdevSession.Open(a, name);
        BdevSession sb = BdevSession.Open(b, name, write: false, channel: false);
        using var buf = new DmaBuffer(512);

        int shrink = bdev.Resize(500);
        ulong afterShrink = bdev.BlockCount;
        int same = bdev.Resize(500);
        ThreadHost.Poll(a);
        ThreadHost.Poll(b);
        int beyond = sa.Run(BdevIoType.Read, buf.Pointer, 500, 1);
        int inside = sa.Run(BdevIoType.Read, buf.Pointer, 499, 1);
        int grow = bdev.Resize(1 << 30);
        ThreadHost.Poll(a);
        ThreadHost.Poll(b);
        int farOut = sa.Run(BdevIoType.Write, buf.Pointer, (1 << 30) - 1, 1);
        LastError.Clear();
        int zero = bdev.Resize(0);
        string zeroMessage = LastError.Message;
        sa.Close();
        sb.CloseDesc();
        bool removing = BdevRegistry.Destroy(name, null) == 0 && bdev.Removing;
        int whileRemoving = bdev.Resize(10);
        ThreadHost.PollUntil(() => bdev.State == BdevState.Removed, a, b);

        await Assert.That(shrink).IsEqualTo(0);
        await Assert.That(afterShrink).IsEqualTo(500UL);
        await Assert.That(same).IsEqualTo(0);
        await Assert.That(Types(sa)).IsEqualTo("Resize,Resize");
        await Assert.That(sa.Events.All(e => e.On == a)).IsTrue();
        await Assert.That(Types(sb)).IsEqualTo("Resize,Resize");
        await Assert.That(sb.Events.All(e => e.On == b)).IsTrue();
        await Assert.That(beyond).IsEqualTo(-Errno.EINVAL);
        await Assert.That(inside).IsEqualTo(0);
        await Assert.That(grow).IsEqualTo(0);
        await Assert.That(farOut).IsEqualTo(0);
        await Assert.That(zero).IsEqualTo(-Errno.EINVAL);
        await Assert.That(zeroMessage).Contains("at least one block");
        await Assert.That(removing).IsTrue();
        await Assert.That(whileRemoving).IsEqualTo(-Errno.ENODEV);
        await Assert.That(bdev.State).IsEqualTo(BdevState.Removed);
    }

    [Test]
    public async Task Malloc_shrinks_and_grows_back_but_never_beyond_its_created_size()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("malloc-resize");
        string name = Bdevs.Malloc("mresize", "num_blocks=2048");
        BlockDevice bdev = Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var w = new DmaBuffer(512).Fill(seed: 5);
        using var r = new DmaBuffer(512);

        int write = s.Run(BdevIoType.Write, w.Pointer, 2047, 1);
        int shrink = bdev.Resize(1024);
        int beyondEnd = s.Run(BdevIoType.Read, r.Pointer, 2047, 1);
        LastError.Clear();
        int tooBig = bdev.Resize(2049);
        string tooBigMessage = LastError.Message;
        ulong afterRefusal = bdev.BlockCount;
        int growBack = bdev.Resize(2048);
        int read = s.Run(BdevIoType.Read, r.Pointer, 2047, 1);
        bool sameData = r.HasPattern(5);
        ThreadHost.Poll(t);
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(write).IsEqualTo(0);
        await Assert.That(shrink).IsEqualTo(0);
        await Assert.That(beyondEnd).IsEqualTo(-Errno.EINVAL);
        await Assert.That(tooBig).IsEqualTo(-Errno.ENOSPC);
        await Assert.That(tooBigMessage).Contains("can grow only up to its created size (2048 blocks)");
        await Assert.That(afterRefusal).IsEqualTo(1024UL);
        await Assert.That(growBack).IsEqualTo(0);
        await Assert.That(read).IsEqualTo(0);
        await Assert.That(sameData).IsTrue();
        // Two resizes were made (the refused one sends nothing).
        await Assert.That(Types(s)).IsEqualTo("Resize,Resize");
    }

    [Test]
    public async Task Media_events_reach_each_descriptor_and_the_ranges_are_taken_once()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("media-a"), b = host.Create("media-b");
        string name = Bdevs.Null("media", "num_blocks=5000");
        BlockDevice bdev = Bdevs.Find(name);
        BdevSession sa = BdevSession.Open(a, name, channel: false);
        BdevSession sb = BdevSession.Open(b, name, write: false, channel: false);

        int n1 = BdevRegistry.NotifyMediaManagement(bdev, 10, 5);
        int n2 = BdevRegistry.NotifyMediaManagement(bdev, 4990, 10);
        int outside = BdevRegistry.NotifyMediaManagement(bdev, 4999, 2);
        int empty = BdevRegistry.NotifyMediaManagement(bdev, 0, 0);
        int wraps = BdevRegistry.NotifyMediaManagement(bdev, ulong.MaxValue, 2);
        ThreadHost.Poll(a);
        ThreadHost.Poll(b);
        var first = new (ulong, ulong)[1];
        var rest = new (ulong, ulong)[8];
        int took1 = BdevRegistry.TakeMediaEvents(bdev, first);
        int took2 = BdevRegistry.TakeMediaEvents(bdev, rest);
        int took3 = BdevRegistry.TakeMediaEvents(bdev, rest);

        // The queue is bounded: 1024 unread ranges, then ENOSPC.
        int accepted = 0;
        for (int i = 0; i < 1024; i++)
        {
            accepted += BdevRegistry.NotifyMediaManagement(bdev, (ulong)i, 1) == 0 ? 1 : 0;
        }
        int full = BdevRegistry.NotifyMediaManagement(bdev, 0, 1);
        var all = new (ulong, ulong)[2000];
        int drained = BdevRegistry.TakeMediaEvents(bdev, all);
        ThreadHost.PollUntil(() => a.PendingMessages == 0 && b.PendingMessages == 0, a, b);
        sa.CloseDesc();
        sb.CloseDesc();
        Bdevs.DestroyAndWait(name, a, b);

        await Assert.That(n1 + n2).IsEqualTo(0);
        await Assert.That(outside).IsEqualTo(-Errno.EINVAL);
        await Assert.That(empty).IsEqualTo(-Errno.EINVAL);
        await Assert.That(wraps).IsEqualTo(-Errno.EINVAL);
        await Assert.That(sa.Events.All(e => e.Type == BdevEventType.MediaManagement)).IsTrue();
        await Assert.That(sa.Events.All(e => e.On == a)).IsTrue();
        await Assert.That(sb.Events.All(e => e.On == b)).IsTrue();
        await Assert.That(sb.Events.Count).IsEqualTo(sa.Events.Count);
        await Assert.That(took1).IsEqualTo(1);
        await Assert.That(first[0]).IsEqualTo((10UL, 5UL));
        await Assert.That(took2).IsEqualTo(1);
        await Assert.That(rest[0]).IsEqualTo((4990UL, 10UL));
        await Assert.That(took3).IsEqualTo(0);
        await Assert.That(accepted).IsEqualTo(1024);
        await Assert.That(full).IsEqualTo(-Errno.ENOSPC);
        await Assert.That(drained).IsEqualTo(1024);
        await Assert.That(sa.Events.Count).IsEqualTo(2 + 1024);
    }
}
