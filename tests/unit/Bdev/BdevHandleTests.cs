using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>BdevHandle: awaitable I/O on the owning lightweight thread.</summary>
[NotInParallel(Keys.Threads)]
public class BdevHandleTests
{
    private sealed record Results(int[] Statuses, bool ContinuedOnThread);

    private static async Task<Results> EveryOperation(BdevHandle h, LightweightThread t, nint w, nint r, IovArray wv,
        IovArray rv)
    {
        var statuses = new List<int>();
        bool onThread = true;
        async ValueTask Step(ValueTask<int> io)
        {
            statuses.Add(await io.ConfigureAwait(false));
            onThread &= LightweightThread.Current == t;
        }
        await Step(HandleIo.Write(h, w, 16, 8));       // pattern at 16..23
        await Step(HandleIo.Read(h, r, 16, 8));
        await Step(HandleIo.Writev(h, wv, 40, 8));     // same pattern at 40..47, vectored
        await Step(HandleIo.Readv(h, rv, 40, 8));
        await Step(h.UnmapAsync(18, 2));
        await Step(h.WriteZeroesAsync(44, 1));
        await Step(h.FlushAsync(0, 64));
        await Step(h.ResetAsync());
        return new Results(statuses.ToArray(), onThread);
    }

    [Test]
    public async Task Every_operation_completes_through_await_with_the_data_in_place()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("handle-ops");
        string name = Bdevs.Malloc("handle-ops");
        using var w = new DmaBuffer(4096).Fill(seed: 21);
        using var r = new DmaBuffer(4096);
        using var rv = new DmaBuffer(4096);
        using var wIovs = new IovArray(w.Pointer, 7, 4000, 89);
        using var rIovs = new IovArray(rv.Pointer, 2048, 1, 2047);
        using var check = new DmaBuffer(64 * 512);
        BdevHandle h = HandleIo.Open(t, name, write: true);

        Results res = HandleIo.Drive(t, () => EveryOperation(h, t, w.Pointer, r.Pointer, wIovs, rIovs));
        int readBack = HandleIo.Drive(t,
            async () => await HandleIo.Read(h, check.Pointer, 0, 64).ConfigureAwait(false));
        bool readOk = r.HasPattern(21);
        bool readvOk = rv.HasPattern(21);
        bool unmapped = check.IsZero(18 * 512, 2 * 512) && check.HasPattern(21, 16 * 512, 2 * 512, patternOffset: 0)
                        && check.HasPattern(21, 20 * 512, 4 * 512, patternOffset: 4 * 512);
        bool zeroed = check.IsZero(44 * 512, 512) && check.HasPattern(21, 40 * 512, 4 * 512, patternOffset: 0)
                      && check.HasPattern(21, 45 * 512, 3 * 512, patternOffset: 5 * 512);
        HandleIo.Dispose(t, h);
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(string.Join(",", res.Statuses)).IsEqualTo("0,0,0,0,0,0,0,0");
        await Assert.That(res.ContinuedOnThread).IsTrue();
        await Assert.That(readBack).IsEqualTo(0);
        await Assert.That(readOk).IsTrue();
        await Assert.That(readvOk).IsTrue();
        await Assert.That(unmapped).IsTrue();
        await Assert.That(zeroed).IsTrue();
    }

    [Test]
    public async Task Refused_io_completes_synchronously_with_the_errno()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("handle-refused");
        string name = Bdevs.Malloc("handle-refused", "num_blocks=100");
        using var buf = new DmaBuffer(4096);
        BdevHandle rw = HandleIo.Open(t, name, write: true);
        BdevHandle ro = HandleIo.Open(t, name, write: false);

        var (range, rangeSync) = Bdevs.Bound(t, () => Sync(HandleIo.Read(rw, buf.Pointer, 100, 1)));
        var (zero, _) = Bdevs.Bound(t, () => Sync(HandleIo.Write(rw, buf.Pointer, 0, 0)));
        var (readOnly, readOnlySync) = Bdevs.Bound(t, () => Sync(HandleIo.Write(ro, buf.Pointer, 0, 1)));
        var (roUnmap, _) = Bdevs.Bound(t, () => Sync(ro.UnmapAsync(0, 1)));
        int outstanding = rw.Channel.Outstanding;
        HandleIo.Dispose(t, rw);
        HandleIo.Dispose(t, ro);
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(range).IsEqualTo(-Errno.EINVAL);
        await Assert.That(rangeSync).IsTrue();
        await Assert.That(zero).IsEqualTo(-Errno.EINVAL);
        await Assert.That(readOnly).IsEqualTo(-Errno.EBADF);
        await Assert.That(readOnlySync).IsTrue();
        await Assert.That(roUnmap).IsEqualTo(-Errno.EBADF);
        await Assert.That(outstanding).IsEqualTo(0);
    }

    /// <summary>The result of a ValueTask that must already be complete, and whether it was.</summary>
    private static (int Result, bool WasComplete) Sync(ValueTask<int> vt) =>
        vt.IsCompleted ? (vt.Result, true) : (int.MinValue, false);

    [Test]
    public async Task A_handle_used_from_a_thread_that_does_not_own_it_returns_EINVAL()
    {
        using var host = new ThreadHost();
        LightweightThread owner = host.Create("handle-owner"), other = host.Create("handle-other");
        string name = Bdevs.Malloc("handle-owner");
        using var buf = new DmaBuffer(512);
        BdevHandle h = HandleIo.Open(owner, name, write: true);

        var unbound = Sync(HandleIo.Read(h, buf.Pointer, 0, 1));
        var bound = Bdevs.Bound(other, () => Sync(HandleIo.Write(h, buf.Pointer, 0, 1)));
        // From inside a poll of the other thread, as a message handler would.
        (int, bool) inPoll = default;
        Messages.Run(other, () => inPoll = Sync(h.FlushAsync(0, 1)));
        ThreadHost.Poll(other);
        string message = NativeBdev.Env.LastError.Message;
        int outstanding = h.Channel.Outstanding;
        int free = h.Channel.FreeCount;
        var owned = Bdevs.Bound(owner, () => h.FlushAsync(0, 1));
        ThreadHost.PollUntil(() => owned.IsCompleted, owner);
        int ownedResult = owned.Result;
        HandleIo.Dispose(owner, h);
        Bdevs.DestroyAndWait(name, owner);

        await Assert.That(unbound).IsEqualTo((-Errno.EINVAL, true));
        await Assert.That(bound).IsEqualTo((-Errno.EINVAL, true));
        await Assert.That(inPoll).IsEqualTo((-Errno.EINVAL, true));
        await Assert.That(message).Contains("does not own it");
        await Assert.That(outstanding).IsEqualTo(0);
        await Assert.That(free).IsEqualTo(BdevChannel.PoolSize);
        await Assert.That(ownedResult).IsEqualTo(0);
    }

    [Test]
    public async Task Open_errors_dispose_and_the_remove_event()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("handle-life");
        string name = Bdevs.Malloc("handle-life", "size_mb=1");
        var events = new List<(BdevEventType, LightweightThread?)>();
        using var buf = new DmaBuffer(512);

        var unbound = HandleIo.TryOpen(null, name, write: false);
        var missing = HandleIo.TryOpen(t, name + "-missing", write: false);
        BdevHandle h = HandleIo.Open(t, name, write: true, (type, _) => events.Add((type, LightweightThread.Current)));
        int descriptors = h.Bdev.Descriptors.Count;
        bool done = false;
        int destroy = BdevRegistry.Destroy(name, _ => done = true);
        ThreadHost.Poll(t);
        var afterRemove = Bdevs.Bound(t, () => Sync(HandleIo.Read(h, buf.Pointer, 0, 1)));
        bool doneWhileOpen = done;
        HandleIo.Dispose(t, h);
        var afterDispose = Bdevs.Bound(t, () => Sync(HandleIo.Read(h, buf.Pointer, 0, 1)));
        Bdevs.Bound(t, () =>
        {
            h.Dispose(); // twice: harmless
            return 0;
        });
        bool finished = ThreadHost.PollUntil(() => done, t);

        await Assert.That(unbound.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(unbound.Handle).IsNull();
        await Assert.That(missing.Rc).IsEqualTo(-Errno.ENODEV);
        await Assert.That(missing.Handle).IsNull();
        await Assert.That(descriptors).IsEqualTo(1);
        await Assert.That(destroy).IsEqualTo(0);
        await Assert.That(events.Count).IsEqualTo(1);
        await Assert.That(events[0].Item1).IsEqualTo(BdevEventType.Remove);
        await Assert.That(events[0].Item2).IsSameReferenceAs(t);
        await Assert.That(afterRemove).IsEqualTo((-Errno.ENODEV, true));
        await Assert.That(doneWhileOpen).IsFalse();
        await Assert.That(afterDispose).IsEqualTo((-Errno.EBADF, true));
        await Assert.That(finished).IsTrue();
        await Assert.That(h.Descriptor.Closed).IsTrue();
    }
}
