using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>Per-channel counters, their merge into the bdev's totals (live channels plus
/// channels already gone), and the log-linear latency histogram.</summary>
[NotInParallel(Keys.Threads)]
public class BdevStatsTests
{
    private static string Summary(BdevStats s) => string.Join(" ",
        new[]
        {
            BdevIoType.Read, BdevIoType.Write, BdevIoType.Unmap, BdevIoType.Flush, BdevIoType.Reset,
            BdevIoType.WriteZeroes,
        }
            .Select(t => $"{t}:{s.Ops[(int)t].Ops}/{s.Ops[(int)t].Bytes}/{s.Ops[(int)t].Errors}"));

    [Test]
    public async Task Counters_per_op_type_after_a_known_mix_on_two_threads()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("stats-a"), b = host.Create("stats-b");
        ScriptedBdev bdev = ScriptedBdev.Register("stats", blocks: 4096);
        bdev.FailOffset = 999;
        BdevSession sa = BdevSession.Open(a, bdev.Name);
        BdevSession sb = BdevSession.Open(b, bdev.Name);
        using var buf = new DmaBuffer(8 * 512);
        var log = new IoLog();

        int rc = 0, n = 0;
        for (int i = 0; i < 5; i++)
        {
            rc |= sa.Submit(BdevIoType.Read, buf.Pointer, (ulong)i, 1, log, n++);
        }
        for (int i = 0; i < 3; i++)
        {
            rc |= sa.Submit(BdevIoType.Write, buf.Pointer, 10 + 2 * (ulong)i, 2, log, n++);
        }
        rc |= sa.Submit(BdevIoType.Unmap, 0, 100, 4, log, n++);
        rc |= sa.Submit(BdevIoType.Unmap, 0, 200, 4, log, n++);
        rc |= sa.Submit(BdevIoType.Flush, 0, 0, 8, log, n++);
        rc |= sa.Submit(BdevIoType.WriteZeroes, 0, 300, 3, log, n++);
        rc |= sa.Submit(BdevIoType.Read, buf.Pointer, 999, 1, log, n++);  // fails: -EIO
        rc |= sa.Submit(BdevIoType.Write, buf.Pointer, 999, 1, log, n++); // fails: -EIO
        int refused = sa.Submit(BdevIoType.Read, buf.Pointer, 4096, 1, log, -1); // refused: never counted
        for (int i = 0; i < 4; i++)
        {
            rc |= sb.Submit(BdevIoType.Read, buf.Pointer, 0, 8, log, n++);
        }
        bool done = ThreadHost.PollUntil(() => log.Count == n, a, b);
        // A reset after the mix, on b.
        rc |= sb.Submit(BdevIoType.Reset, 0, 0, 0, log, n++);
        bool resetDone = ThreadHost.PollUntil(() => log.Count == n, a, b);

        string channelA = Summary(sa.Channel.Stats);
        string channelB = Summary(sb.Channel.Stats);
        BdevStats live = bdev.CollectStats();
        string liveSummary = Summary(live);
        ulong histogramTotal = live.Histogram.Total;
        OpStats reads = live.Ops[(int)BdevIoType.Read];
        // Channels going away keep their counts in the bdev's totals.
        sa.Close();
        string afterA = Summary(bdev.CollectStats());
        sb.Close();
        ThreadHost.Poll(b);
        BdevStats retired = bdev.CollectStats();
        string afterBoth = Summary(retired);
        ulong retiredHistogram = retired.Histogram.Total;
        Bdevs.DestroyAndWait(bdev.Name, a, b);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(refused).IsEqualTo(-NativeBdev.Interop.Errno.EINVAL);
        await Assert.That(log.Has(-1)).IsFalse();
        await Assert.That(done).IsTrue();
        await Assert.That(resetDone).IsTrue();
        await Assert.That(channelA).IsEqualTo(
            "Read:5/2560/1 Write:3/3072/1 Unmap:2/4096/0 Flush:1/4096/0 Reset:0/0/0 WriteZeroes:1/1536/0");
        await Assert.That(channelB).IsEqualTo(
            "Read:4/16384/0 Write:0/0/0 Unmap:0/0/0 Flush:0/0/0 Reset:1/0/0 WriteZeroes:0/0/0");
        await Assert.That(liveSummary).IsEqualTo(
            "Read:9/18944/1 Write:3/3072/1 Unmap:2/4096/0 Flush:1/4096/0 Reset:1/0/0 WriteZeroes:1/1536/0");
        await Assert.That(histogramTotal).IsEqualTo(19UL); // every completion, failed ones too
        await Assert.That(reads.MinLatencyTicks).IsLessThanOrEqualTo(reads.MaxLatencyTicks);
        await Assert.That(reads.LatencyTicks).IsGreaterThanOrEqualTo(reads.MaxLatencyTicks);
        await Assert.That(afterA).IsEqualTo(liveSummary);
        await Assert.That(afterBoth).IsEqualTo(liveSummary);
        await Assert.That(retiredHistogram).IsEqualTo(19UL);
    }

    [Test]
    public async Task Latency_of_a_held_io_is_measured_from_submission_to_completion()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("stats-latency");
        ScriptedBdev bdev = ScriptedBdev.Register("stats-latency");
        BdevSession s = BdevSession.Open(t, bdev.Name);
        using var buf = new DmaBuffer(512);
        var log = new IoLog();

        bdev.Hold = true;
        long t0 = Ticks.Now;
        s.Submit(BdevIoType.Read, buf.Pointer, 0, 1, log, 1);
        Thread.Sleep(30);
        bdev.Hold = false;
        ThreadHost.PollUntil(() => log.Count == 1, t);
        long elapsed = Ticks.Now - t0;
        OpStats read = s.Channel.Stats.Ops[(int)BdevIoType.Read];
        ulong p100 = s.Channel.Stats.Histogram.Percentile(100);
        s.Close();
        Bdevs.DestroyAndWait(bdev.Name, t);

        await Assert.That(read.Ops).IsEqualTo(1UL);
        await Assert.That(read.MaxLatencyTicks).IsEqualTo(read.MinLatencyTicks);
        await Assert.That(read.LatencyTicks).IsEqualTo(read.MaxLatencyTicks);
        await Assert.That((long)read.MaxLatencyTicks).IsGreaterThanOrEqualTo(Ticks.FromMicroseconds(25_000));
        await Assert.That((long)read.MaxLatencyTicks).IsLessThanOrEqualTo(elapsed);
        await Assert.That(p100).IsGreaterThanOrEqualTo(read.MaxLatencyTicks);
        await Assert.That(p100 - read.MaxLatencyTicks).IsLessThanOrEqualTo(read.MaxLatencyTicks / 16);
    }

    private sealed class SlowMessage
    {
        public required BdevSession Session;
        public required DmaBuffer Buffer;
        public required IoLog Log;
        public long SpinTicks;
    }

    private static void SpinThenSubmit(object? context, nint arg)
    {
        var m = (SlowMessage)context!;
        long until = Ticks.Now + m.SpinTicks;
        while (Ticks.Now < until)
        {
        }
        m.Session.Submit(BdevIoType.Read, m.Buffer.Pointer, 0, 1, m.Log, 1);
    }

    /// <summary>Issue 15's latency tail: bdevperf's job_start message pinned its buffers
    /// (24-170 ms) and then submitted its first I/Os, which were stamped with the poll step's
    /// start and so reported that whole time as their latency (bdevperf's max).</summary>
    [Test]
    public async Task An_io_submitted_late_in_a_message_does_not_count_the_message_s_earlier_work()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("stats-slow-msg");
        ScriptedBdev bdev = ScriptedBdev.Register("stats-slow-msg");
        BdevSession s = BdevSession.Open(t, bdev.Name);
        using var buf = new DmaBuffer(512);
        var log = new IoLog();
        var m = new SlowMessage { Session = s, Buffer = buf, Log = log, SpinTicks = Ticks.FromMicroseconds(30_000) };

        int rc = Send(t, m);
        bool done = ThreadHost.PollUntil(() => log.Count == 1, t);
        OpStats read = s.Channel.Stats.Ops[(int)BdevIoType.Read];
        s.Close();
        Bdevs.DestroyAndWait(bdev.Name, t);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(done).IsTrue();
        await Assert.That(read.Ops).IsEqualTo(1UL);
        // Submitted after the 30 ms spin, completed on the next poll: well under 30 ms.
        await Assert.That((long)read.MaxLatencyTicks).IsLessThan(Ticks.FromMicroseconds(15_000));
    }

    private static unsafe int Send(LightweightThread t, SlowMessage m) => t.Send(&SpinThenSubmit, m);

    // ---------------------------------------------------------------- histogram

    private static IEnumerable<ulong> Samples()
    {
        for (ulong v = 0; v < 5000; v++)
        {
            yield return v;
        }
        for (int bit = 0; bit < 64; bit++)
        {
            ulong p = 1UL << bit;
            yield return p - 1;
            yield return p;
            yield return p + 1;
            yield return p | (p >> 1);
            yield return p | (p - 1);
        }
        var rng = new Random(1234);
        for (int i = 0; i < 200_000; i++)
        {
            int bits = rng.Next(1, 65);
            ulong v = (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1);
            yield return bits == 64 ? v : v & ((1UL << bits) - 1);
        }
        yield return ulong.MaxValue;
        yield return ulong.MaxValue - 1;
    }

    [Test]
    public async Task Every_value_falls_inside_its_buckets_bounds_and_buckets_are_at_most_a_16th_wide()
    {
        int outside = 0, tooWide = 0, badIndex = 0;
        string? firstFailure = null;
        foreach (ulong v in Samples())
        {
            int b = LatencyHistogram.BucketOf(v);
            if (b < 0 || b >= LatencyHistogram.Ranges * LatencyHistogram.SubBuckets)
            {
                badIndex++;
                firstFailure ??= $"{v} -> bucket {b}";
                continue;
            }
            ulong lo = LatencyHistogram.LowerBound(b), hi = LatencyHistogram.UpperBound(b);
            if (v < lo || v > hi)
            {
                outside++;
                firstFailure ??= $"{v} -> bucket {b} [{lo}, {hi}]";
            }
            // width/lower <= 1/16, without overflow: (hi - lo + 1) * 16 <= lo
            if (v >= 16 && (UInt128)(hi - lo + 1) * 16 > lo)
            {
                tooWide++;
                firstFailure ??= $"{v} -> bucket {b} [{lo}, {hi}] is wider than 1/16";
            }
        }

        await Assert.That(firstFailure).IsNull();
        await Assert.That(badIndex + outside + tooWide).IsEqualTo(0);
    }

    [Test]
    public async Task Buckets_tile_the_whole_range_without_gaps_or_overlaps()
    {
        int buckets = LatencyHistogram.Ranges * LatencyHistogram.SubBuckets;
        var errors = new List<string>();
        for (int b = 0; b < buckets; b++)
        {
            ulong lo = LatencyHistogram.LowerBound(b), hi = LatencyHistogram.UpperBound(b);
            if (lo > hi || LatencyHistogram.BucketOf(lo) != b || LatencyHistogram.BucketOf(hi) != b)
            {
                errors.Add($"bucket {b} [{lo}, {hi}]");
            }
            if (b + 1 < buckets && LatencyHistogram.LowerBound(b + 1) != hi + 1)
            {
                errors.Add($"gap after bucket {b}");
            }
        }

        await Assert.That(errors.Count).IsEqualTo(0);
        await Assert.That(LatencyHistogram.LowerBound(0)).IsEqualTo(0UL);
        await Assert.That(LatencyHistogram.UpperBound(buckets - 1)).IsEqualTo(ulong.MaxValue);
        await Assert.That(LatencyHistogram.BucketOf(ulong.MaxValue)).IsEqualTo(buckets - 1);
        // Below 16 each value has its own bucket.
        await Assert.That(Enumerable.Range(0, 16).All(v => LatencyHistogram.BucketOf((ulong)v) == v)).IsTrue();
    }

    [Test]
    public async Task Percentile_of_one_to_a_hundred()
    {
        var h = new LatencyHistogram();
        ulong empty = h.Percentile(50);
        for (ulong v = 1; v <= 100; v++)
        {
            h.Record(v);
        }

        await Assert.That(empty).IsEqualTo(0UL);
        await Assert.That(h.Total).IsEqualTo(100UL);
        await Assert.That(h.Percentile(0)).IsEqualTo(1UL);     // rank 1: the value 1, exact below 16
        await Assert.That(h.Percentile(10)).IsEqualTo(10UL);
        await Assert.That(h.Percentile(50)).IsEqualTo(51UL);   // 50 sits in [50, 51]
        await Assert.That(h.Percentile(99)).IsEqualTo(99UL);   // 99 sits in [96, 99]
        await Assert.That(h.Percentile(100)).IsEqualTo(103UL); // 100 sits in [100, 103]
        await Assert.That(h.Percentile(250)).IsEqualTo(103UL); // clamped
        await Assert.That(h.Percentile(-5)).IsEqualTo(1UL);
    }

    [Test]
    public async Task Percentile_of_a_random_distribution_is_within_a_16th_above_the_true_value()
    {
        var h = new LatencyHistogram();
        var rng = new Random(42);
        var values = new ulong[100_000];
        for (int i = 0; i < values.Length; i++)
        {
            // Log-normal-ish latencies from a few hundred ticks to tens of millions.
            values[i] = (ulong)Math.Exp(rng.NextDouble() * 12 + 5);
            h.Record(values[i]);
        }
        Array.Sort(values);
        var errors = new List<string>();
        foreach (double p in new[] { 1, 25, 50, 90, 99, 99.9, 99.99, 100 })
        {
            ulong rank = (ulong)Math.Ceiling(values.Length * p / 100.0);
            ulong truth = values[rank - 1];
            ulong got = h.Percentile(p);
            if (got < truth || got - truth > truth / 16)
            {
                errors.Add($"p{p}: {got} for {truth}");
            }
        }
        var merged = new LatencyHistogram();
        merged.Add(h);
        merged.Add(h);
        ulong mergedP90 = merged.Percentile(90);
        ulong p90 = h.Percentile(90);
        h.Clear();

        await Assert.That(string.Join("; ", errors)).IsEqualTo("");
        await Assert.That(merged.Total).IsEqualTo(200_000UL);
        await Assert.That(mergedP90).IsEqualTo(p90);
        await Assert.That(h.Total).IsEqualTo(0UL);
    }
}
