using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Error;
using NativeBdev.Modules.Nexus;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules;

/// <summary>nexus://: mirrored writes, balanced reads, a child failing a write or a read retired
/// (its event before the I/O's completion) while the host sees no error, the last healthy
/// child's failure reaching the host, held I/O, partial and full rebuilds that leave every
/// child identical, and the control operations' errors.</summary>
[NotInParallel(Keys.Threads)]
public class NexusBdevTests
{
    private const int Bs = 512;
    private const int Blocks = 8192; // 4 MiB: 64 segments of 64 KiB

    private static string Enc(string uri) => Uri.EscapeDataString(uri);

    private static (int Rc, string? Name, string Message) CreateOn(LightweightThread t, string uri) =>
        Bdevs.Bound(t, () => Bdevs.TryCreate(uri));

    private static NexusBdev Nexus(string name) => (NexusBdev)Bdevs.Find(name);

    private static byte[] ReadAll(LightweightThread t, string bdev)
    {
        BdevSession s = BdevSession.Open(t, bdev, write: false);
        using var b = new DmaBuffer(Blocks * Bs);
        int rc = s.Run(BdevIoType.Read, b.Pointer, 0, Blocks);
        s.Close();
        return rc == 0 ? b.ToArray() : throw new InvalidOperationException($"read {bdev}: {rc}");
    }

    private static int Write(BdevSession s, long block, int blocks, int seed, byte[]? reference)
    {
        using var w = new DmaBuffer(blocks * Bs).Fill(seed);
        int rc = s.Run(BdevIoType.Write, w.Pointer, (ulong)block, (ulong)blocks);
        if (rc == 0 && reference != null)
        {
            w.Span.CopyTo(reference.AsSpan((int)block * Bs));
        }
        return rc;
    }

    private static string States(NexusBdev n) => string.Join(" ", n.Children().Select(c => c.ToString()));

    [Test]
    public async Task Writes_reach_every_child_and_reads_are_spread_over_them()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-rw");
        string existing = Bdevs.Malloc("nx-old", $"num_blocks={Blocks}&blk_size={Bs}");
        string made = Bdevs.Unique("nx-new");
        string name = Bdevs.Unique("nexus");
        string madeUri = Enc($"malloc:///{made}?num_blocks={Blocks}&blk_size={Bs}");
        var created = CreateOn(t, $"nexus:///{name}?children={madeUri}," +
                                  existing);
        BdevSession s = BdevSession.Open(t, name);
        var reference = new byte[Blocks * Bs];
        int writes = Write(s, 0, 1000, 1, reference) + Write(s, 5000, 300, 2, reference);
        using var v = new DmaBuffer(64 * Bs).Fill(seed: 3);
        using var iovs = new IovArray(v.Pointer, 100, 4000, 28668);
        int writeV = s.RunV(BdevIoType.Write, iovs, 7000, 64);
        v.Span.CopyTo(reference.AsSpan(7000 * Bs));
        using var r = new DmaBuffer(8 * Bs);
        int reads = 0;
        for (int i = 0; i < 8; i++)
        {
            reads += s.Run(BdevIoType.Read, r.Pointer, (ulong)(i * 8), 8);
        }
        ulong readsA = Bdevs.Find(existing).CollectStats().Ops[(int)BdevIoType.Read].Ops;
        ulong readsB = Bdevs.Find(made).CollectStats().Ops[(int)BdevIoType.Read].Ops;
        int flush = s.Run(BdevIoType.Flush, 0, 0, Blocks);
        int zeroes = s.Run(BdevIoType.WriteZeroes, 0, 10, 20);
        reference.AsSpan(10 * Bs, 20 * Bs).Clear();
        int reset = s.Run(BdevIoType.Reset, 0, 0, 0);
        s.Close();
        byte[] a = ReadAll(t, existing), b = ReadAll(t, made);
        bool claimed = Bdevs.Find(existing).ClaimOwner == "nexus " + name;
        Bdevs.DestroyAndWait(name, t);
        bool madeGone = ThreadHost.PollUntil(() => BdevRegistry.Find(made) == null, t);
        bool existingKept = BdevRegistry.Find(existing) is { ClaimedBy: null };
        Bdevs.DestroyAndWait(existing, t);

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(writes + writeV + reads + flush + zeroes + reset).IsEqualTo(0);
        await Assert.That(a.AsSpan().SequenceEqual(reference)).IsTrue();
        await Assert.That(b.AsSpan().SequenceEqual(reference)).IsTrue();
        await Assert.That(readsA).IsGreaterThanOrEqualTo(4UL);
        await Assert.That(readsB).IsGreaterThanOrEqualTo(4UL);
        await Assert.That(claimed).IsTrue();
        await Assert.That(madeGone).IsTrue();
        await Assert.That(existingKept).IsTrue();
    }

    /// <summary>Two error bdevs over mallocs: children that fail on demand.</summary>
    private static (string Nexus, string A, string B, string[] Cleanup) ErrorPair(LightweightThread t, string tag)
    {
        string ma = Bdevs.Malloc(tag + "a", $"num_blocks={Blocks}&blk_size={Bs}");
        string mb = Bdevs.Malloc(tag + "b", $"num_blocks={Blocks}&blk_size={Bs}");
        string ea = CreateOn(t, $"error:///{ma}").Name!, eb = CreateOn(t, $"error:///{mb}").Name!;
        string name = Bdevs.Unique("nexus");
        var r = CreateOn(t, $"nexus:///{name}?children={ea},{eb}");
        if (r.Rc != 0)
        {
            throw new InvalidOperationException(r.Message);
        }
        return (name, ea, eb, [ea, eb, ma, mb]);
    }

    private static void Cleanup(LightweightThread t, string nexus, string[] others)
    {
        if (BdevRegistry.Find(nexus) != null)
        {
            Bdevs.DestroyAndWait(nexus, t);
        }
        foreach (string o in others)
        {
            Bdevs.DestroyAndWait(o, t);
        }
    }

    [Test]
    public async Task A_child_failing_a_write_is_retired_before_the_write_succeeds_and_the_last_ones_failure_is_seen()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-wfail");
        var (name, ea, eb, cleanup) = ErrorPair(t, "nwf");
        NexusBdev n = Nexus(name);
        var order = new List<string>();
        n.Listener = c =>
            order.Add($"event {c.Name} {NexusChild.StateName(c.State)} {NexusChild.ReasonName(c.Reason)}");
        BdevSession s = BdevSession.Open(t, name);
        using var w = new DmaBuffer(16 * Bs).Fill(seed: 5);
        int inject = ErrorModule.Inject(ea, (int)BdevIoType.Write, ErrorModule.Failure, 1000);
        var log = new IoLog();
        int submitted = s.Submit(BdevIoType.Write, w.Pointer, 100, 16, log, 1);
        ThreadHost.PollUntil(() => log.Count == 1, t);
        order.Add($"done {log.Done[0].Status}");
        string afterFirst = States(n);
        bool detached = ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        ulong writesToAAfter = Bdevs.Find(ea).CollectStats().Ops[(int)BdevIoType.Write].Errors;
        int second = s.Run(BdevIoType.Write, w.Pointer, 200, 16);
        ulong writesToALater = Bdevs.Find(ea).CollectStats().Ops[(int)BdevIoType.Write].Errors;
        int read = s.Run(BdevIoType.Read, w.Pointer, 100, 16);
        // Now the last healthy child fails: the host sees it, and the child stays open.
        ErrorModule.Inject(eb, (int)BdevIoType.Write, ErrorModule.Failure, 1);
        int last = s.Run(BdevIoType.Write, w.Pointer, 300, 16);
        string afterLast = States(n);
        int faultLast = Bdevs.Bound(t, () => n.Fault(eb, NexusFaultReason.AdminFailed));
        int removeLast = Bdevs.Bound(t, () => n.RemoveChild(eb));
        s.Close();
        Cleanup(t, name, cleanup);

        await Assert.That(inject).IsEqualTo(0);
        await Assert.That(submitted).IsEqualTo(0);
        await Assert.That(order).IsEquivalentTo(new[] { $"event {ea} faulted io_error", "done 0" },
            TUnit.Assertions.Enums.CollectionOrdering.Matching);
        await Assert.That(afterFirst).IsEqualTo($"{ea} faulted(io_error) synced {eb} open synced");
        await Assert.That(detached).IsTrue();
        await Assert.That(second + read).IsEqualTo(0);
        await Assert.That(writesToALater).IsEqualTo(writesToAAfter); // no more writes to it
        await Assert.That(last).IsEqualTo(-Errno.EIO);
        await Assert.That(afterLast).IsEqualTo($"{ea} faulted(io_error) synced {eb} open synced");
        await Assert.That(faultLast).IsEqualTo(-Errno.EBUSY);
        await Assert.That(removeLast).IsEqualTo(-Errno.EBUSY);
    }

    [Test]
    public async Task A_read_error_on_one_child_is_retried_on_another_and_never_reaches_the_host()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-rfail");
        var (name, ea, eb, cleanup) = ErrorPair(t, "nrf");
        NexusBdev n = Nexus(name);
        BdevSession s = BdevSession.Open(t, name);
        var reference = new byte[Blocks * Bs];
        Write(s, 0, 256, 8, reference);
        ErrorModule.Inject(ea, (int)BdevIoType.Read, ErrorModule.Failure, 1000);
        using var r = new DmaBuffer(256 * Bs);
        int failures = 0;
        for (int i = 0; i < 4; i++) // round-robin: at least one lands on the failing child first
        {
            failures += s.Run(BdevIoType.Read, r.Pointer, 0, 256) != 0 ? 1 : 0;
        }
        bool same = r.Span.SequenceEqual(reference.AsSpan(0, 256 * Bs));
        NexusChildState aState = n.FindChild(ea)!.State;
        ulong readErrorsOnA = Bdevs.Find(ea).CollectStats().Ops[(int)BdevIoType.Read].Errors;
        ErrorModule.Inject(eb, (int)BdevIoType.Read, ErrorModule.Failure, 1);
        int lastFails = s.Run(BdevIoType.Read, r.Pointer, 0, 8);
        s.Close();
        Cleanup(t, name, cleanup);

        await Assert.That(failures).IsEqualTo(0);
        await Assert.That(same).IsTrue();
        await Assert.That(readErrorsOnA).IsEqualTo(1UL);
        await Assert.That(aState).IsEqualTo(NexusChildState.Faulted);
        await Assert.That(lastFails).IsEqualTo(-Errno.EIO);
    }

    [Test]
    public async Task A_faulted_child_brought_back_copies_only_the_segments_written_meanwhile()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-partial");
        string a = Bdevs.Malloc("npa", $"num_blocks={Blocks}&blk_size={Bs}");
        string b = Bdevs.Malloc("npb", $"num_blocks={Blocks}&blk_size={Bs}");
        string name = Bdevs.Unique("nexus");
        CreateOn(t, $"nexus:///{name}?children={a},{b}");
        NexusBdev n = Nexus(name);
        var events = new List<string>();
        n.Listener = c => events.Add($"{c.Name}:{c} ");
        BdevSession s = BdevSession.Open(t, name);
        var reference = new byte[Blocks * Bs];
        Write(s, 0, Blocks, 11, reference);
        int fault = Bdevs.Bound(t, () => n.Fault(b, NexusFaultReason.AdminFailed));
        ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        // Segments of 128 blocks: 3 (block 400), 10 and 11 (1300 .. 1499), 63 (the last).
        Write(s, 400, 8, 12, reference);
        Write(s, 1300, 200, 13, reference);
        Write(s, Blocks - 1, 1, 14, reference);
        int online = Bdevs.Bound(t, () => n.Online(b));
        NexusRebuild? job = n.RebuildOf(n.FindChild(b)!);
        bool synced = ThreadHost.PollUntil(() => n.FindChild(b)!.Healthy, t);
        bool logOff = n.LoggingActive == 0;
        s.Close();
        byte[] ca = ReadAll(t, a), cb = ReadAll(t, b);
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(fault + online).IsEqualTo(0);
        await Assert.That(job).IsNotNull();
        await Assert.That(job!.Partial).IsTrue();
        await Assert.That(synced).IsTrue();
        await Assert.That(job.SegmentsTotal).IsEqualTo(4L);
        await Assert.That(job.SegmentsCopied).IsEqualTo(4L);
        await Assert.That(ca.AsSpan().SequenceEqual(reference)).IsTrue();
        await Assert.That(cb.AsSpan().SequenceEqual(reference)).IsTrue();
        await Assert.That(logOff).IsTrue();
        await Assert.That(events.Count).IsEqualTo(3); // faulted, open out-of-sync, synced
    }

    [Test]
    public async Task A_new_child_is_fully_rebuilt_while_the_host_keeps_writing_and_every_child_ends_identical()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-full");
        string a = Bdevs.Malloc("nfa", $"num_blocks={Blocks}&blk_size={Bs}");
        string name = Bdevs.Unique("nexus");
        CreateOn(t, $"nexus:///{name}?children={a}");
        NexusBdev n = Nexus(name);
        BdevSession s = BdevSession.Open(t, name);
        var reference = new byte[Blocks * Bs];
        Write(s, 0, Blocks, 21, reference);
        string added = Bdevs.Unique("nf-new");
        int add = Bdevs.Bound(t, () => n.AddChild($"malloc:///{added}?num_blocks={Blocks}&blk_size={Bs}"));
        NexusChild child = n.FindChild(added)!;
        NexusRebuild? job = n.RebuildOf(child);
        // Writes while the copy runs: some land on segments already copied, some on others.
        var rng = new Random(5);
        int writeErrors = 0, during = 0;
        using var w = new DmaBuffer(64 * Bs);
        while (!child.Healthy && during < 2000)
        {
            var log = new IoLog();
            long at = rng.Next(0, Blocks - 64);
            int blocks = rng.Next(1, 64);
            w.Fill(seed: 100 + during);
            s.Submit(BdevIoType.Write, w.Pointer, (ulong)at, (ulong)blocks, log, 1);
            ThreadHost.PollUntil(() => log.Count == 1, t);
            writeErrors += log.Done[0].Status != 0 ? 1 : 0;
            w.Span[..(blocks * Bs)].CopyTo(reference.AsSpan((int)at * Bs));
            during++;
        }
        bool synced = ThreadHost.PollUntil(() => child.Healthy, t);
        int removeOld = Bdevs.Bound(t, () => n.RemoveChild(a));
        ThreadHost.PollUntil(() => n.FindChild(a) == null, t);
        using var r = new DmaBuffer(Blocks * Bs);
        int readBack = s.Run(BdevIoType.Read, r.Pointer, 0, Blocks); // only the new child is left
        s.Close();
        byte[] ca = ReadAll(t, a);
        Bdevs.DestroyAndWait(name, t);
        bool addedGone = ThreadHost.PollUntil(() => BdevRegistry.Find(added) == null, t);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(add).IsEqualTo(0);
        await Assert.That(job!.Partial).IsFalse();
        await Assert.That(synced).IsTrue();
        await Assert.That(during).IsGreaterThan(0);
        await Assert.That(writeErrors).IsEqualTo(0);
        await Assert.That(job.SegmentsCopied).IsEqualTo(64L);
        await Assert.That(removeOld).IsEqualTo(0);
        await Assert.That(readBack).IsEqualTo(0);
        await Assert.That(r.Span.SequenceEqual(reference)).IsTrue();
        await Assert.That(ca.AsSpan().SequenceEqual(reference)).IsTrue();
        await Assert.That(addedGone).IsTrue();
    }

    [Test]
    public async Task A_child_whose_bdev_goes_away_is_faulted_offline_and_comes_back_remade_and_fully_rebuilt()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-gone");
        string a = Bdevs.Malloc("nga", $"num_blocks={Blocks}&blk_size={Bs}");
        string b = Bdevs.Unique("ngb");
        string name = Bdevs.Unique("nexus");
        CreateOn(t, $"nexus:///{name}?children={a},{Enc($"malloc:///{b}?num_blocks={Blocks}&blk_size={Bs}")}");
        NexusBdev n = Nexus(name);
        BdevSession s = BdevSession.Open(t, name);
        var reference = new byte[Blocks * Bs];
        Write(s, 0, Blocks, 31, reference);
        // The child's bdev is destroyed under the nexus (its node is gone): the removal finishes,
        // the child is faulted offline, the host's I/O goes on.
        bool removed = Bdevs.DestroyAndWait(b, t);
        NexusChild child = n.FindChild(b)!;
        var (state, reason) = (child.State, child.Reason);
        int writeAfter = Write(s, 100, 50, 32, reference);
        // Back: remade from its URI (empty), so the rebuild copies everything, not the log.
        int online = Bdevs.Bound(t, () => n.Online(b));
        NexusRebuild? job = n.RebuildOf(child);
        bool synced = ThreadHost.PollUntil(() => child.Healthy, t);
        s.Close();
        byte[] cb = ReadAll(t, b);
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(removed).IsTrue();
        await Assert.That(state).IsEqualTo(NexusChildState.Faulted);
        await Assert.That(reason).IsEqualTo(NexusFaultReason.Offline);
        await Assert.That(writeAfter).IsEqualTo(0);
        await Assert.That(online).IsEqualTo(0);
        await Assert.That(job!.Partial).IsFalse();
        await Assert.That(synced).IsTrue();
        await Assert.That(cb.AsSpan().SequenceEqual(reference)).IsTrue();
    }

    [Test]
    public async Task Io_is_held_not_failed_until_every_thread_has_the_new_configuration()
    {
        using var host = new ThreadHost();
        LightweightThread t1 = host.Create("nexus-hold-1"), t2 = host.Create("nexus-hold-2");
        string a = Bdevs.Malloc("nha", $"num_blocks={Blocks}&blk_size={Bs}");
        string b = Bdevs.Malloc("nhb", $"num_blocks={Blocks}&blk_size={Bs}");
        string name = Bdevs.Unique("nexus");
        CreateOn(t1, $"nexus:///{name}?children={a},{b}");
        NexusBdev n = Nexus(name);
        BdevSession s1 = BdevSession.Open(t1, name), s2 = BdevSession.Open(t2, name);
        int fault = Bdevs.Bound(t1, () => n.Fault(b, NexusFaultReason.AdminFailed));
        using var w = new DmaBuffer(8 * Bs).Fill(seed: 41);
        var log = new IoLog();
        int submitted = s1.Submit(BdevIoType.Write, w.Pointer, 0, 8, log, 1);
        for (int i = 0; i < 20; i++)
        {
            ThreadHost.Poll(t1); // t2 has not refreshed: the write waits
        }
        bool heldWhileT2Behind = log.Count == 0 && n.Reconfiguring != 0;
        bool done = ThreadHost.PollUntil(() => log.Count == 1, t2, t1);
        int status = log.Count == 1 ? log.Done[0].Status : 1;
        s1.Close();
        s2.Close();
        Bdevs.DestroyAndWait(name, t1, t2);
        Bdevs.DestroyAndWait(a, t1);
        Bdevs.DestroyAndWait(b, t1);

        await Assert.That(fault + submitted).IsEqualTo(0);
        await Assert.That(heldWhileT2Behind).IsTrue();
        await Assert.That(done).IsTrue();
        await Assert.That(status).IsEqualTo(0);
    }

    [Test]
    public async Task A_nexus_destroyed_while_it_rebuilds_stops_the_rebuild_and_takes_what_it_made()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-destroy-rebuild");
        string a = Bdevs.Malloc("nda", $"num_blocks={Blocks}&blk_size={Bs}");
        string name = Bdevs.Unique("nexus");
        CreateOn(t, $"nexus:///{name}?children={a}");
        NexusBdev n = Nexus(name);
        string added = Bdevs.Unique("nd-new");
        int add = Bdevs.Bound(t, () => n.AddChild($"malloc:///{added}?num_blocks={Blocks}&blk_size={Bs}"));
        NexusRebuild? job = n.RebuildOf(n.FindChild(added)!);
        ThreadHost.Poll(t); // the rebuild has started, not finished
        bool destroyed = Bdevs.DestroyAndWait(name, t);
        bool addedGone = ThreadHost.PollUntil(() => BdevRegistry.Find(added) == null, t);
        bool aFree = Bdevs.Find(a) is { ClaimedBy: null } b && b.Descriptors.Count == 0;
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(add).IsEqualTo(0);
        await Assert.That(job).IsNotNull();
        await Assert.That(destroyed).IsTrue();
        await Assert.That(addedGone).IsTrue();
        await Assert.That(aFree).IsTrue();
        await Assert.That(job!.Cancelled).IsTrue();
    }

    [Test]
    [Arguments("nexus:///{0}", -22, "children=")]
    [Arguments("nexus:///{0}?children={1}&speed=1", -22, "unknown parameter 'speed'")]
    [Arguments("nexus:///{0}?children={1},nosuch", -19, "no bdev named 'nosuch'")]
    [Arguments("nexus:///{0}?children={1},{2}", -22, "4096-byte blocks")]
    [Arguments("nexus:///{0}?children={1}&size=100", -22, "multiple of the block size")]
    [Arguments("nexus:///{0}?children={1}&size=8388608", -28, "more than the smallest child")]
    [Arguments("nexus:///{0}?children={1},{1}", -17, "already a child")]
    public async Task Bad_nexus_uris_are_refused_and_leave_nothing_behind(string uri, int rc, string message)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-bad");
        string a = Bdevs.Malloc("nba", "size_mb=4&blk_size=512");
        string big = Bdevs.Malloc("nbb", "size_mb=4&blk_size=4096");
        string name = Bdevs.Unique("nexus");
        var r = CreateOn(t, string.Format(uri, name, a, big));
        bool clean = BdevRegistry.Find(name) == null && Bdevs.Find(a).ClaimedBy == null &&
                     Bdevs.Find(a).Descriptors.Count == 0;
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(big, t);

        await Assert.That(r.Rc).IsEqualTo(rc);
        await Assert.That(r.Message).Contains(message);
        await Assert.That(clean).IsTrue();
    }

    [Test]
    public async Task Control_operations_name_what_is_wrong()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-ctl");
        var (name, ea, eb, cleanup) = ErrorPair(t, "nctl");
        NexusBdev n = Nexus(name);
        int unknownFault = Bdevs.Bound(t, () => n.Fault("nosuch", NexusFaultReason.AdminFailed));
        string m1 = NativeBdev.Env.LastError.Message;
        int unknownOnline = Bdevs.Bound(t, () => n.Online("nosuch"));
        int onlineOpen = Bdevs.Bound(t, () => n.Online(ea));
        int addTwice = Bdevs.Bound(t, () => n.AddChild(eb));
        int addMissing = Bdevs.Bound(t, () => n.AddChild("nosuch-bdev"));
        int fault = Bdevs.Bound(t, () => n.Fault(ea, NexusFaultReason.AdminFailed));
        int faultAgain = Bdevs.Bound(t, () => n.Fault(ea, NexusFaultReason.AdminFailed));
        ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        int remove = Bdevs.Bound(t, () => n.RemoveChild(ea));
        bool gone = ThreadHost.PollUntil(() => n.FindChild(ea) == null && Bdevs.Find(ea).ClaimedBy == null, t);
        Cleanup(t, name, cleanup);

        await Assert.That(unknownFault).IsEqualTo(-Errno.ENOENT);
        await Assert.That(m1).Contains("no child 'nosuch'");
        await Assert.That(unknownOnline).IsEqualTo(-Errno.ENOENT);
        await Assert.That(onlineOpen).IsEqualTo(0);
        await Assert.That(addTwice).IsEqualTo(-Errno.EEXIST);
        await Assert.That(addMissing).IsEqualTo(-Errno.ENODEV);
        await Assert.That(fault + faultAgain + remove).IsEqualTo(0);
        await Assert.That(gone).IsTrue();
    }
}
