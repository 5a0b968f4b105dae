using System.Diagnostics;
using System.Security.Cryptography;
using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Nexus;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules;

/// <summary>The administrator's rebuild controls over the core: pause holds the copy (its
/// progress stays still while the host's writes go on), resume finishes it with every child
/// identical, stop leaves the child open and out of sync (writes, no reads) until a rebuild is
/// started again, the rate limit bounds the bytes copied over a window, the history keeps
/// one record per rebuild, and the verify pass catches a target that returns other data.</summary>
[NotInParallel(Keys.Threads)]
public class NexusRebuildControlTests
{
    private const int Bs = 512;
    private const int Blocks = 32768; // 16 MiB: 256 segments of 64 KiB

    private static NexusBdev Nexus(string name) => (NexusBdev)Bdevs.Find(name);

    private static string Digest(LightweightThread t, string bdev, int blocks = Blocks)
    {
        BdevSession s = BdevSession.Open(t, bdev, write: false);
        using var b = new DmaBuffer(blocks * Bs);
        int rc = s.Run(BdevIoType.Read, b.Pointer, 0, (ulong)blocks);
        s.Close();
        return rc == 0 ? Convert.ToHexString(SHA256.HashData(b.Span))
            : throw new InvalidOperationException($"read {bdev}: {rc}");
    }

    private static int Write(BdevSession s, long block, int blocks, int seed)
    {
        using var w = new DmaBuffer(blocks * Bs).Fill(seed);
        return s.Run(BdevIoType.Write, w.Pointer, (ulong)block, (ulong)blocks);
    }

    /// <summary>A nexus over one malloc child holding data, and the URI of a second to add.</summary>
    private static (string Nexus, string A, BdevSession Session) Filled(LightweightThread t, string tag,
        int blocks = Blocks)
    {
        string a = Bdevs.Malloc(tag + "a", $"num_blocks={blocks}&blk_size={Bs}");
        string name = Bdevs.Unique("nexus");
        var r = Bdevs.Bound(t, () => Bdevs.TryCreate($"nexus:///{name}?children={a}"));
        if (r.Rc != 0)
        {
            throw new InvalidOperationException(r.Message);
        }
        BdevSession s = BdevSession.Open(t, name);
        for (int at = 0; at < blocks; at += 4096)
        {
            Write(s, at, Math.Min(4096, blocks - at), at / 4096 + 1);
        }
        return (name, a, s);
    }

    private static void PollFor(LightweightThread t, TimeSpan span)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < span)
        {
            ThreadHost.Poll(t);
        }
    }

    [Test]
    public async Task Pause_holds_the_copy_while_writes_go_on_and_resume_finishes_it_with_the_children_identical()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-pause");
        var (name, a, s) = Filled(t, "rpa");
        NexusBdev n = Nexus(name);
        string added = Bdevs.Unique("rp-new");
        int add = Bdevs.Bound(t, () => n.AddChild($"malloc:///{added}?num_blocks={Blocks}&blk_size={Bs}"));
        NexusChild child = n.FindChild(added)!;
        NexusRebuild job = n.RebuildOf(child)!;
        bool copying = ThreadHost.PollUntil(() => job.SegmentsCopied > 0, t);
        int pause = n.PauseRebuild(added);
        int pauseAgain = n.PauseRebuild(added);
        PollFor(t, TimeSpan.FromMilliseconds(50)); // the segments in flight finish
        long held = job.SegmentsCopied;
        NexusRebuildState stateHeld = job.State;
        int writes = 0;
        for (int i = 0; i < 20; i++)
        {
            writes += Write(s, i * 1500, 16, 200 + i); // the host goes on; the target takes them
        }
        PollFor(t, TimeSpan.FromMilliseconds(200));
        long later = job.SegmentsCopied;
        bool stillOutOfSync = !child.Healthy && child.State == NexusChildState.Open;
        int resume = n.ResumeRebuild(added);
        bool synced = ThreadHost.PollUntil(() => child.Healthy, t);
        s.Close();
        string da = Digest(t, a), db = Digest(t, added);
        NexusRebuildRecord[] history = n.RebuildHistory();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(add + pause + pauseAgain + writes + resume).IsEqualTo(0);
        await Assert.That(copying).IsTrue();
        await Assert.That(held).IsGreaterThan(0L);
        await Assert.That(held).IsLessThan(job.SegmentsTotal);
        await Assert.That(stateHeld).IsEqualTo(NexusRebuildState.Paused);
        await Assert.That(later).IsEqualTo(held);
        await Assert.That(stillOutOfSync).IsTrue();
        await Assert.That(synced).IsTrue();
        await Assert.That(job.State).IsEqualTo(NexusRebuildState.Completed);
        await Assert.That(job.SegmentsCopied).IsEqualTo(256L);
        await Assert.That(db).IsEqualTo(da);
        await Assert.That(history.Length).IsEqualTo(1);
        await Assert.That(history[0].State).IsEqualTo(NexusRebuildState.Completed);
    }

    [Test]
    public async Task A_rebuild_paused_before_it_starts_copies_nothing_until_resumed()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-pause0");
        var (name, a, s) = Filled(t, "rp0", 8192);
        NexusBdev n = Nexus(name);
        string added = Bdevs.Unique("rp0-new");
        int add = Bdevs.Bound(t, () => n.AddChild($"malloc:///{added}?num_blocks=8192&blk_size={Bs}"));
        NexusRebuild job = n.RebuildOf(n.FindChild(added)!)!;
        int pause = n.PauseRebuild(added);
        PollFor(t, TimeSpan.FromMilliseconds(100));
        long copied = job.SegmentsCopied;
        int progress = job.Progress;
        n.ResumeRebuild(added);
        bool synced = ThreadHost.PollUntil(() => n.FindChild(added)!.Healthy, t);
        s.Close();
        string da = Digest(t, a, 8192), db = Digest(t, added, 8192);
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(add + pause).IsEqualTo(0);
        await Assert.That(copied).IsEqualTo(0L);
        await Assert.That(progress).IsEqualTo(0);
        await Assert.That(synced).IsTrue();
        await Assert.That(job.Progress).IsEqualTo(100);
        await Assert.That(db).IsEqualTo(da);
    }

    [Test]
    public async Task Stop_leaves_the_child_out_of_sync_taking_writes_not_reads_until_a_rebuild_is_started_again()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-stop");
        var (name, a, s) = Filled(t, "rst");
        NexusBdev n = Nexus(name);
        var events = new List<string>();
        n.Listener = c => events.Add(c.ToString());
        string added = Bdevs.Unique("rs-new");
        int add = Bdevs.Bound(t, () => n.AddChild($"malloc:///{added}?num_blocks={Blocks}&blk_size={Bs}"));
        NexusChild child = n.FindChild(added)!;
        NexusRebuild job = n.RebuildOf(child)!;
        ThreadHost.PollUntil(() => job.SegmentsCopied > 0, t);
        int stop = n.StopRebuild(added);
        bool ended = ThreadHost.PollUntil(() => n.RebuildOf(child) == null && n.Reconfiguring == 0, t);
        string after = child.ToString();
        ulong readsBefore = Bdevs.Find(added).CollectStats().Ops[(int)BdevIoType.Read].Ops;
        ulong writesBefore = Bdevs.Find(added).CollectStats().Ops[(int)BdevIoType.Write].Ops;
        using var r = new DmaBuffer(8 * Bs);
        int io = 0;
        for (int i = 0; i < 8; i++)
        {
            io += s.Run(BdevIoType.Read, r.Pointer, (ulong)(i * 100), 8);
            io += Write(s, 20000 + i * 8, 8, 300 + i);
        }
        ulong readsAfter = Bdevs.Find(added).CollectStats().Ops[(int)BdevIoType.Read].Ops;
        ulong writesAfter = Bdevs.Find(added).CollectStats().Ops[(int)BdevIoType.Write].Ops;
        int stopAgain = n.StopRebuild(added);
        int pauseNone = n.PauseRebuild(added);
        int startHealthy = Bdevs.Bound(t, () => n.StartRebuild(a));
        int start = Bdevs.Bound(t, () => n.StartRebuild(added));
        int startTwice = Bdevs.Bound(t, () => n.StartRebuild(added));
        bool synced = ThreadHost.PollUntil(() => child.Healthy, t);
        s.Close();
        string da = Digest(t, a), db = Digest(t, added);
        NexusRebuildRecord[] history = n.RebuildHistory();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(add + stop + io + start).IsEqualTo(0);
        await Assert.That(ended).IsTrue();
        await Assert.That(job.State).IsEqualTo(NexusRebuildState.Stopped);
        await Assert.That(after).IsEqualTo($"{added} open out-of-sync");
        await Assert.That(readsAfter).IsEqualTo(readsBefore);
        await Assert.That(writesAfter - writesBefore).IsEqualTo(8UL);
        await Assert.That(stopAgain).IsEqualTo(-Errno.ENOENT);
        await Assert.That(pauseNone).IsEqualTo(-Errno.ENOENT);
        await Assert.That(startHealthy).IsEqualTo(-Errno.EINVAL);
        await Assert.That(startTwice).IsEqualTo(-Errno.EEXIST);
        await Assert.That(synced).IsTrue();
        await Assert.That(db).IsEqualTo(da);
        await Assert.That(history.Select(h => h.State).ToArray())
            .IsEquivalentTo(new[] { NexusRebuildState.Stopped, NexusRebuildState.Completed },
                TUnit.Assertions.Enums.CollectionOrdering.Matching);
        await Assert.That(history[0].BlocksCopied).IsGreaterThan(0UL);
        await Assert.That(history[0].BlocksCopied).IsLessThan(history[0].BlocksTotal);
        // Started again, it copies only what the stopped one had not: the child took every write.
        await Assert.That(history[1].Partial).IsTrue();
        await Assert.That(history[1].BlocksTotal).IsEqualTo((ulong)Blocks - history[0].BlocksCopied);
        await Assert.That(history[1].BlocksCopied).IsEqualTo(history[1].BlocksTotal);
        await Assert.That(events.Any(e => e.Contains("faulted"))).IsFalse();
    }

    [Test]
    public async Task The_rate_limit_bounds_the_bytes_copied_over_a_window()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-rate");
        var (name, a, s) = Filled(t, "rrt", 8192);
        NexusBdev n = Nexus(name);
        const long rate = 1 << 20; // 1 MiB/s: the 4 MiB would take 4 s
        int set = n.SetRebuildRate(rate);
        int negative = n.SetRebuildRate(-1);
        string added = Bdevs.Unique("rr-new");
        int add = Bdevs.Bound(t, () => n.AddChild($"malloc:///{added}?num_blocks=8192&blk_size={Bs}"));
        NexusChild child = n.FindChild(added)!;
        NexusRebuild job = n.RebuildOf(child)!;
        ThreadHost.PollUntil(() => job.State == NexusRebuildState.Running, t);
        var sw = Stopwatch.StartNew();
        PollFor(t, TimeSpan.FromMilliseconds(600));
        double seconds = sw.Elapsed.TotalSeconds;
        long bytes = (long)job.BlocksCopied * Bs;
        bool slow = !child.Healthy;
        n.SetRebuildRate(0); // unlimited: the rest goes at once
        bool synced = ThreadHost.PollUntil(() => child.Healthy, t);
        s.Close();
        string da = Digest(t, a, 8192), db = Digest(t, added, 8192);
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(set + add).IsEqualTo(0);
        await Assert.That(negative).IsEqualTo(-Errno.EINVAL);
        await Assert.That(slow).IsTrue();
        // At most the rate over the window plus the bucket's one segment (and one more for slack);
        // at least a quarter of the rate: the limit slows the copy, it does not stop it.
        await Assert.That(bytes).IsLessThanOrEqualTo((long)(rate * seconds) + 2 * NexusBdev.SegmentBytes);
        await Assert.That(bytes).IsGreaterThanOrEqualTo((long)(rate * seconds / 4));
        await Assert.That(synced).IsTrue();
        await Assert.That(db).IsEqualTo(da);
    }

    [Test]
    public async Task The_history_records_each_rebuild_with_its_child_source_kind_blocks_and_times()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-history");
        var (name, a, s) = Filled(t, "rhi", 8192);
        NexusBdev n = Nexus(name);
        DateTime before = DateTime.UtcNow;
        string added = Bdevs.Unique("rh-new");
        string uri = $"malloc:///{added}?num_blocks=8192&blk_size={Bs}";
        int add = Bdevs.Bound(t, () => n.AddChild(uri));
        bool full = ThreadHost.PollUntil(() => n.FindChild(added)!.Healthy, t);
        int fault = Bdevs.Bound(t, () => n.Fault(added, NexusFaultReason.AdminFailed));
        ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        Write(s, 300, 8, 77); // segment 2
        int online = Bdevs.Bound(t, () => n.Online(added));
        bool partial = ThreadHost.PollUntil(() => n.FindChild(added)!.Healthy, t);
        // Added without a rebuild: out of sync, no job, nothing recorded until one is started.
        string third = Bdevs.Unique("rh-3");
        int addQuiet = Bdevs.Bound(t, () => n.AddChild($"malloc:///{third}?num_blocks=8192&blk_size={Bs}",
            rebuild: false));
        ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        string quiet = n.FindChild(third)!.ToString();
        bool noJob = n.RebuildOf(n.FindChild(third)!) == null;
        int countQuiet = n.RebuildHistory().Length;
        int start = Bdevs.Bound(t, () => n.StartRebuild(third));
        bool thirdSynced = ThreadHost.PollUntil(() => n.FindChild(third)!.Healthy, t);
        NexusRebuildRecord[] h = n.RebuildHistory();
        s.Close();
        string da = Digest(t, a, 8192), dc = Digest(t, third, 8192);
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(add + fault + online + addQuiet + start).IsEqualTo(0);
        await Assert.That(full && partial && thirdSynced).IsTrue();
        await Assert.That(quiet).IsEqualTo($"{third} open out-of-sync");
        await Assert.That(noJob).IsTrue();
        await Assert.That(countQuiet).IsEqualTo(2);
        await Assert.That(h.Length).IsEqualTo(3);
        await Assert.That(h[0].Child).IsEqualTo(added);
        await Assert.That(h[0].ChildUri).IsEqualTo(uri);
        await Assert.That(h[0].Source).IsEqualTo(a);
        await Assert.That(h[0].Partial).IsFalse();
        await Assert.That(h[0].BlocksTotal).IsEqualTo(8192UL);
        await Assert.That(h[0].BlocksCopied).IsEqualTo(8192UL);
        await Assert.That(h[1].Partial).IsTrue();
        await Assert.That(h[1].BlocksTotal).IsEqualTo(128UL); // one segment
        await Assert.That(h[1].BlocksCopied).IsEqualTo(128UL);
        await Assert.That(h[2].Child).IsEqualTo(third);
        await Assert.That(h.All(r => r.State == NexusRebuildState.Completed)).IsTrue();
        await Assert.That(h.All(r => r.Start >= before.AddSeconds(-1) && r.End >= r.Start)).IsTrue();
        await Assert.That(h[1].Start).IsGreaterThanOrEqualTo(h[0].End);
        await Assert.That(h[0].BlockSize).IsEqualTo((uint)Bs);
        await Assert.That(dc).IsEqualTo(da);
    }
    [Test]
    public async Task Verify_reads_each_segment_back_and_a_target_returning_other_data_fails_the_rebuild()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-verify");
        var (name, a, s) = Filled(t, "rvf", 8192);
        NexusBdev n = Nexus(name);
        n.RebuildVerify = true;
        // A sound target: every segment read back once and equal.
        string good = Bdevs.Unique("rv-good");
        int addGood = Bdevs.Bound(t, () => n.AddChild($"malloc:///{good}?num_blocks=8192&blk_size={Bs}"));
        NexusRebuild goodJob = n.RebuildOf(n.FindChild(good)!)!;
        bool goodSynced = ThreadHost.PollUntil(() => n.FindChild(good)!.Healthy, t);
        ulong readBacks = Bdevs.Find(good).CollectStats().Ops[(int)BdevIoType.Read].Ops;
        // A target whose reads come back corrupted (its writes land, what it returns differs).
        string bad = Bdevs.Malloc("rv-bad", $"num_blocks=8192&blk_size={Bs}");
        int rule = NativeBdev.Bdev.FaultRegistry.Add($"inject://{bad}?op=read&stage=compl&method=data&every=1");
        int addBad = Bdevs.Bound(t, () => n.AddChild(bad));
        NexusRebuild badJob = n.RebuildOf(n.FindChild(bad)!)!;
        bool badEnded = ThreadHost.PollUntil(() => n.RebuildOf(n.FindChild(bad)!) == null && n.Reconfiguring == 0, t);
        string badState = n.FindChild(bad)!.ToString();
        // Without the verify pass the same target passes for synced: what the pass is for.
        n.RebuildVerify = false;
        int online = Bdevs.Bound(t, () => n.Online(bad));
        NexusRebuild unverified = n.RebuildOf(n.FindChild(bad)!)!;
        bool unverifiedSynced = ThreadHost.PollUntil(() => n.FindChild(bad)!.Healthy, t);
        NativeBdev.Bdev.FaultRegistry.Remove(rule);
        s.Close();
        string da = Digest(t, a, 8192), dg = Digest(t, good, 8192);
        NexusRebuildRecord[] h = n.RebuildHistory();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(bad, t);

        await Assert.That(addGood + addBad + online).IsEqualTo(0);
        await Assert.That(rule).IsGreaterThanOrEqualTo(0);
        await Assert.That(goodJob.Verify).IsTrue();
        await Assert.That(goodSynced).IsTrue();
        await Assert.That(goodJob.VerifyFailures).IsEqualTo(0L);
        await Assert.That(readBacks).IsEqualTo(64UL);
        await Assert.That(dg).IsEqualTo(da);
        await Assert.That(badEnded).IsTrue();
        await Assert.That(badJob.State).IsEqualTo(NexusRebuildState.Failed);
        await Assert.That(badJob.VerifyFailures).IsGreaterThan(0L);
        await Assert.That(badState).IsEqualTo($"{bad} faulted(rebuild_failed) out-of-sync");
        await Assert.That(unverified.Verify).IsFalse();
        await Assert.That(unverifiedSynced).IsTrue();
        await Assert.That(h.Select(r => r.State).ToArray()).IsEquivalentTo(
            new[] { NexusRebuildState.Completed, NexusRebuildState.Failed, NexusRebuildState.Completed },
            TUnit.Assertions.Enums.CollectionOrdering.Matching);
    }
    [Test]
    public async Task A_rebuild_paused_and_stopped_while_another_thread_writes_ends_with_the_children_identical()
    {
        using var host = new ThreadHost();
        LightweightThread t1 = host.Create("nexus-ctl-1"), t2 = host.Create("nexus-ctl-2");
        var (name, a, s1) = Filled(t1, "rmt", 8192);
        NexusBdev n = Nexus(name);
        BdevSession s2 = BdevSession.Open(t2, name);
        n.SetRebuildRate(8 << 20); // 4 MiB at 8 MiB/s: half a second, long enough to act on
        string added = Bdevs.Unique("rm-new");
        int add = Bdevs.Bound(t1, () => n.AddChild($"malloc:///{added}?num_blocks=8192&blk_size={Bs}"));
        NexusChild child = n.FindChild(added)!;
        var rng = new Random(9);
        using var w = new DmaBuffer(32 * Bs);
        int writeErrors = 0, writes = 0, pauses = 0, stops = 0, restarts = 0;
        var sw = Stopwatch.StartNew();
        while (!child.Healthy && sw.Elapsed < TimeSpan.FromSeconds(8))
        {
            // t2 writes; t1 runs the rebuild; the controls come from this OS thread, bound to neither.
            var log = new IoLog();
            w.Fill(seed: writes);
            s2.Submit(BdevIoType.Write, w.Pointer, (ulong)rng.Next(0, 8192 - 32), 32, log, 1);
            ThreadHost.PollUntil(() => log.Count == 1, t2, t1);
            writeErrors += log.Done[0].Status != 0 ? 1 : 0;
            writes++;
            switch (rng.Next(40))
            {
                case 0:
                    pauses += n.PauseRebuild(added) == 0 ? 1 : 0;
                    break;
                case 1 or 2 or 3:
                    n.ResumeRebuild(added);
                    break;
                case 4 when stops < 2 && n.RebuildOf(child) is { StoppedByUser: false }:
                    stops += n.StopRebuild(added) == 0 ? 1 : 0;
                    break;
            }
            if (n.RebuildOf(child) == null && !child.Healthy && n.Reconfiguring == 0)
            {
                restarts += Bdevs.Bound(t1, () => n.StartRebuild(added)) == 0 ? 1 : 0; // stopped: again
            }
        }
        n.SetRebuildRate(0);
        n.ResumeRebuild(added);
        bool synced = ThreadHost.PollUntil(() => child.Healthy, t1, t2);
        s1.Close();
        s2.Close();
        string da = Digest(t1, a, 8192), db = Digest(t1, added, 8192);
        NexusRebuildRecord[] h = n.RebuildHistory();
        Bdevs.DestroyAndWait(name, t1, t2);
        Bdevs.DestroyAndWait(a, t1);

        await Assert.That(add).IsEqualTo(0);
        await Assert.That(writeErrors).IsEqualTo(0);
        await Assert.That(writes).IsGreaterThan(20);
        await Assert.That(pauses + stops).IsGreaterThan(0);
        await Assert.That(synced).IsTrue();
        await Assert.That(db).IsEqualTo(da);
        await Assert.That(restarts).IsEqualTo(stops);
        await Assert.That(h.Length).IsEqualTo(stops + 1);
        await Assert.That(h.Count(r => r.State == NexusRebuildState.Stopped)).IsEqualTo(stops);
        await Assert.That(h[^1].State).IsEqualTo(NexusRebuildState.Completed);
    }
}
