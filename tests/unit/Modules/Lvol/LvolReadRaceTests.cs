using NativeBdev.Bdev;
using NativeBdev.Modules.Lvol;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>A read racing the unmap of its cluster (LvolReadDrain): the read is held at the base by
/// a submit-stage delay rule (the base has not read anything yet), the cluster is unmapped and a
/// write to another volume allocates; the cluster must not be that volume's before the read is
/// back, or the read would return the other volume's data. Once the read is back the cluster is
/// free, and the next allocation takes it (the lowest free cluster): proof the held read was what
/// kept it.</summary>
[NotInParallel(Keys.Threads)]
public class LvolReadRaceTests
{
    private const int MiB = 1 << 20;
    private const int BlocksPerCluster = MiB / 4096;

    private static bool IsZero(byte[] b) => b.AsSpan().IndexOfAnyExcept((byte)0) < 0;

    /// <summary>Holds the next read of device cluster <paramref name="device"/> for <paramref name="us"/>.</summary>
    private static int HoldRead(LvolMallocStore s, uint device, int us) =>
        FaultRegistry.Add($"inject://{s.Base}?op=read&stage=submit&method=delay-{us}" +
            $"&offset={device * BlocksPerCluster}&num_blk={BlocksPerCluster}&count=1");

    [Test]
    public async Task A_read_racing_an_unmap_never_returns_the_data_of_the_volume_the_cluster_goes_to()
    {
        using var s = new LvolMallocStore();
        string a = s.Volume("a", 4, thin: true);
        string b = s.Volume("b", 4, thin: true);
        byte[] dataA = LvsFixtures.Pattern("race-a", 1, MiB);
        byte[] dataB = LvsFixtures.Pattern("race-b", 2, MiB);
        await Assert.That(s.Run(a, BdevIoType.Write, 0, dataA, MiB)).IsEqualTo(0);
        LvolBdev va = s.Lvs.FindVolume("a")!;
        uint device = va.Blob.Clusters[0];
        int rule = HoldRead(s, device, 1_000_000);
        await Assert.That(rule).IsGreaterThan(0);

        BdevSession reader = BdevSession.Open(s.T, a);
        using var buf = new DmaBuffer(MiB);
        var log = new IoLog();
        await Assert.That(reader.Submit(BdevIoType.Read, buf.Pointer, 0, BlocksPerCluster, log, 1)).IsEqualTo(0);
        ThreadHost.Poll(s.T);
        await Assert.That(va.Blob.ReadsInFlight).IsEqualTo(1);

        // the cluster is taken from the volume (its map is published) but not freed yet
        await Assert.That(s.Run(a, BdevIoType.Unmap, 0, null, MiB)).IsEqualTo(0);
        await Assert.That(va.Blob.Clusters[0]).IsEqualTo(0u);
        int pending = s.Lvs.Drain.Pending;
        // another volume allocates (the lowest free cluster) and writes its data
        await Assert.That(s.Run(b, BdevIoType.Write, 0, dataB, MiB)).IsEqualTo(0);
        LvolBdev vb = s.Lvs.FindVolume("b")!;
        uint taken = vb.Blob.Clusters[0];
        await Assert.That(log.Count).IsEqualTo(0); // the read was held through the whole race

        await Assert.That(ThreadHost.PollUntil(() => log.Count == 1, s.T)).IsTrue();
        await Assert.That(log.Done[0].Status).IsEqualTo(0);
        byte[] got = buf.ToArray();
        await Assert.That(got.AsSpan().SequenceEqual(dataB)).IsFalse(); // the exposure this is about
        await Assert.That(got.AsSpan().SequenceEqual(dataA) || IsZero(got)).IsTrue();
        await Assert.That(pending).IsEqualTo(1);
        await Assert.That(taken).IsNotEqualTo(device);
        await Assert.That(va.Blob.ReadsInFlight).IsEqualTo(0);
        await Assert.That(ThreadHost.PollUntil(() => s.Lvs.Drain.Pending == 0, s.T)).IsTrue();

        // free now: the next allocation (the lowest free cluster) is that one
        await Assert.That(s.Run(b, BdevIoType.Write, MiB, dataB, MiB)).IsEqualTo(0);
        await Assert.That(vb.Blob.Clusters[1]).IsEqualTo(device);
        FaultRegistry.Remove(rule);
        reader.Close();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    public async Task The_wait_ends_with_the_reads_in_flight_at_the_unmap_not_with_later_ones()
    {
        using var s = new LvolMallocStore();
        string a = s.Volume("a", 4, thin: true);
        byte[] data = LvsFixtures.Pattern("grace", 3, 2 * MiB);
        await Assert.That(s.Run(a, BdevIoType.Write, 0, data, 2 * MiB)).IsEqualTo(0);
        LvolBdev va = s.Lvs.FindVolume("a")!;
        uint first = va.Blob.Clusters[0], second = va.Blob.Clusters[1];

        // a read before the unmap, held 300 ms; a read after it, held 5 s
        int early = HoldRead(s, second, 300_000);
        BdevSession reader = BdevSession.Open(s.T, a);
        using var buf1 = new DmaBuffer(MiB);
        using var buf2 = new DmaBuffer(MiB);
        var log = new IoLog();
        await Assert.That(reader.Submit(BdevIoType.Read, buf1.Pointer, BlocksPerCluster, BlocksPerCluster, log, 1))
            .IsEqualTo(0);
        ThreadHost.Poll(s.T);
        await Assert.That(s.Run(a, BdevIoType.Unmap, 0, null, MiB)).IsEqualTo(0);
        await Assert.That(s.Lvs.Drain.Pending).IsEqualTo(1);
        FaultRegistry.Remove(early);
        int late = HoldRead(s, second, 5_000_000);
        await Assert.That(reader.Submit(BdevIoType.Read, buf2.Pointer, BlocksPerCluster, BlocksPerCluster, log, 2))
            .IsEqualTo(0);
        ThreadHost.Poll(s.T);

        await Assert.That(ThreadHost.PollUntil(() => log.Has(1), s.T)).IsTrue();
        await Assert.That(ThreadHost.PollUntil(() => s.Lvs.Drain.Pending == 0, s.T)).IsTrue();
        await Assert.That(log.Has(2)).IsFalse(); // still held: the later read did not keep the cluster
        await Assert.That(s.Lvs.UsedClusters[first]).IsFalse();
        await Assert.That(ThreadHost.PollUntil(() => log.Has(2), s.T)).IsTrue();
        await Assert.That(buf1.ToArray().AsSpan().SequenceEqual(data.AsSpan(MiB))).IsTrue();
        await Assert.That(buf2.ToArray().AsSpan().SequenceEqual(data.AsSpan(MiB))).IsTrue();
        FaultRegistry.Remove(late);
        reader.Close();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    public async Task A_shrink_frees_the_clusters_past_the_end_once_reads_of_them_are_back()
    {
        using var s = new LvolMallocStore();
        string a = s.Volume("a", 4, thin: true);
        byte[] data = LvsFixtures.Pattern("shrink", 4, 4 * MiB);
        await Assert.That(s.Run(a, BdevIoType.Write, 0, data, 4 * MiB)).IsEqualTo(0);
        LvolBdev va = s.Lvs.FindVolume("a")!;
        uint last = va.Blob.Clusters[3];
        int rule = HoldRead(s, last, 300_000);
        BdevSession reader = BdevSession.Open(s.T, a);
        using var buf = new DmaBuffer(MiB);
        var log = new IoLog();
        await Assert.That(reader.Submit(BdevIoType.Read, buf.Pointer, 3 * BlocksPerCluster, BlocksPerCluster, log, 1))
            .IsEqualTo(0);
        ThreadHost.Poll(s.T);
        long free = s.Lvs.FreeClusters;
        int rc = Bdevs.Bound(s.T, () => LvolVolumes.Resize(va, 2 * (ulong)MiB));
        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(s.Lvs.Drain.Pending).IsEqualTo(2);
        await Assert.That(s.Lvs.FreeClusters).IsEqualTo(free);
        await Assert.That(ThreadHost.PollUntil(() => log.Count == 1, s.T)).IsTrue();
        await Assert.That(ThreadHost.PollUntil(() => s.Lvs.Drain.Pending == 0, s.T)).IsTrue();
        await Assert.That(s.Lvs.FreeClusters).IsEqualTo(free + 2);
        await Assert.That(buf.ToArray().AsSpan().SequenceEqual(data.AsSpan(3 * MiB))).IsTrue();
        FaultRegistry.Remove(rule);
        reader.Close();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    /// <summary>The read count (and the write count) cost no allocation: reads and writes of a
    /// volume whose clusters are allocated, each started from an earlier one's completion.</summary>
    [Test]
    public async Task Reads_and_writes_of_an_allocated_volume_allocate_nothing()
    {
        using var s = new LvolMallocStore();
        string v = s.Volume("z", 8, thin: false);
        BdevSession session = BdevSession.Open(s.T, v);
        using var buf = new DmaBuffer(8 * 4096).Fill(seed: 3);
        var chain = new IoChain(session.Channel, session.Desc, buf.Pointer, session.Bdev.BlockCount);
        chain.Run(s.T, 1_000, 32); // warm: JIT and first use
        long first = chain.Run(s.T, 50_000, 32);
        long second = chain.Run(s.T, 50_000, 32);
        int errors = chain.Errors;
        int reads = s.Lvs.FindVolume("z")!.Blob.ReadsInFlight;
        session.Close();
        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(Math.Min(first, second)).IsEqualTo(0L);
        await Assert.That(reads).IsEqualTo(0);
    }
}
