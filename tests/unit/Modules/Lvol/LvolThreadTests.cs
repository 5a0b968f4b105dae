using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>The store's metadata belongs to its thread: a write on another thread that needs a
/// cluster asks that thread by message and completes on its own thread once answered, many writes
/// to the same cluster at once get one cluster and share one metadata write, and a management call
/// from another thread is refused (-EXDEV) rather than racing the metadata thread.</summary>
[NotInParallel(Keys.Threads)]
public class LvolThreadTests
{
    [Test]
    public async Task Writes_on_another_thread_get_clusters_from_the_metadata_thread()
    {
        using var host = new ThreadHost();
        LightweightThread owner = host.Create("lvol-owner"), other = host.Create("lvol-other");
        using var f = new LvolTestStore(owner, null, 32L << 20);
        f.Bring("mt", "create", 4096, "&cluster_size=1M");
        f.Create("lvol:///v?size=8M&thin=1&lvs=lvs:///mt");
        BdevSession s = BdevSession.Open(other, "mt/v");
        var log = new IoLog();
        using var buf = new DmaBuffer(16 * 4096).Fill(seed: 7);
        // 16 writes of 4 KiB: 8 into cluster 0, 8 into cluster 3, all in flight together.
        for (int i = 0; i < 16; i++)
        {
            ulong block = (i < 8 ? 0UL : 768UL) + (ulong)(i % 8);
            int rc = s.Submit(BdevIoType.Write, buf.At(i * 4096), block, 1, log, i);
            if (rc != 0)
            {
                throw new InvalidOperationException($"submit {i}: {rc}");
            }
        }
        bool done = ThreadHost.PollUntil(() => log.Count == 16, owner, other);
        bool onOther = log.Done.All(d => d.Thread == other);
        LvolStore store = f.Store!;
        long allocations = store.Allocator.Allocations, mdWrites = store.Allocator.MetadataWrites;
        long allocated = store.FindVolume("v")!.Blob.AllocatedClusters;
        s.Close();
        byte[] data = f.ReadAll("mt/v");
        bool reads = data.AsSpan(0, 8 * 4096).SequenceEqual(buf.Span[..(8 * 4096)]) &&
                     data.AsSpan(3 << 20, 8 * 4096).SequenceEqual(buf.Span[(8 * 4096)..]);
        LvolBdev v = store.FindVolume("v")!;
        int foreign = Bdevs.Bound(other, () => LvolVolumes.Resize(v, 16 << 20));

        await Assert.That(done).IsTrue();
        await Assert.That(log.Statuses).IsEqualTo(string.Join(",", Enumerable.Repeat(0, 16)));
        await Assert.That(onOther).IsTrue();
        await Assert.That(allocations).IsEqualTo(2);
        await Assert.That(allocated).IsEqualTo(2);
        await Assert.That(mdWrites).IsEqualTo(1); // both clusters in one batch: one metadata write
        await Assert.That(reads).IsTrue();
        await Assert.That(foreign).IsEqualTo(-Errno.EXDEV);
    }

    [Test]
    public async Task A_snapshot_waits_for_no_write_in_flight_and_then_copies_on_write()
    {
        using var host = new ThreadHost();
        LightweightThread owner = host.Create("lvol-fz-owner"), other = host.Create("lvol-fz-other");
        using var f = new LvolTestStore(owner, null, 32L << 20);
        f.Bring("fz", "create", 4096, "&cluster_size=1M");
        f.Create("lvol:///v?size=4M&lvs=lvs:///fz");
        LvolBdev v = f.Store!.FindVolume("v")!;
        BdevSession s = BdevSession.Open(other, "fz/v");
        var log = new IoLog();
        using var buf = new DmaBuffer(4096).Fill(seed: 9);
        int submitted = s.Submit(BdevIoType.Write, buf.Pointer, 0, 1, log, 1); // in flight until polled
        int busy = Bdevs.Bound(owner, () => LvolSnapshots.Snapshot(v, "snap", out _));
        bool first = ThreadHost.PollUntil(() => log.Count == 1, other);
        int snap = Bdevs.Bound(owner, () => LvolSnapshots.Snapshot(v, "snap", out _));
        using var buf2 = new DmaBuffer(4096).Fill(seed: 10);
        int second = s.Submit(BdevIoType.Write, buf2.Pointer, 0, 1, log, 2);
        bool secondDone = ThreadHost.PollUntil(() => log.Count == 2, owner, other);
        s.Close();
        byte[] vol = f.ReadAll("fz/v"), snapshot = f.ReadAll("fz/snap");

        await Assert.That(submitted + second).IsEqualTo(0);
        await Assert.That(busy).IsEqualTo(-Errno.EBUSY);
        await Assert.That(first && secondDone).IsTrue();
        await Assert.That(log.Statuses).IsEqualTo("0,0");
        await Assert.That(snap).IsEqualTo(0);
        await Assert.That(snapshot.AsSpan(0, 4096).SequenceEqual(buf.Span)).IsTrue();
        await Assert.That(vol.AsSpan(0, 4096).SequenceEqual(buf2.Span)).IsTrue();
        await Assert.That(v.Blob.AllocatedClusters).IsEqualTo(1);
    }
}
