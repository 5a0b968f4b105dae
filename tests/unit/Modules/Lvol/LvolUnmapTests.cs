using NativeBdev.Bdev;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>Unmap and write zeroes on volumes over a malloc base (which zeroes): whole clusters of a
/// thin volume go back to the store (its free count shows them), parts of clusters are zeroed, a
/// clone's write zeroes copies its snapshot's cluster before zeroing it, a thick volume keeps its
/// clusters; the store is then unloaded and checked clean by the offline checker.</summary>
[NotInParallel(Keys.Threads)]
public class LvolUnmapTests
{
    private const int MiB = 1 << 20;

    private static bool IsZero(byte[] b) => b.AsSpan().IndexOfAnyExcept((byte)0) < 0;

    [Test]
    public async Task Unmap_of_whole_clusters_of_a_thin_volume_gives_them_back_and_zeroes_parts()
    {
        using var s = new LvolMallocStore();
        string v = s.Volume("v", 8, thin: true);
        byte[] data = LvsFixtures.Pattern("unmap", 1, 4 * MiB);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, data, 4 * MiB)).IsEqualTo(0);
        long free = s.Lvs.FreeClusters;
        LvolBdev vol = s.Lvs.FindVolume("v")!;
        await Assert.That(vol.Blob.AllocatedClusters).IsEqualTo(4);

        // [512K, 3M): half of cluster 0 zeroed, clusters 1 and 2 given back
        await Assert.That(s.Run(v, BdevIoType.Unmap, MiB / 2, null, (5 * MiB) / 2)).IsEqualTo(0);
        await Assert.That(s.Lvs.FreeClusters).IsEqualTo(free + 2);
        await Assert.That(vol.Blob.AllocatedClusters).IsEqualTo(2);
        byte[] back = s.Read(v, 0, 4 * MiB);
        await Assert.That(back.AsSpan(0, MiB / 2).SequenceEqual(data.AsSpan(0, MiB / 2))).IsTrue();
        await Assert.That(IsZero(back[(MiB / 2)..(3 * MiB)])).IsTrue();
        await Assert.That(back.AsSpan(3 * MiB).SequenceEqual(data.AsSpan(3 * MiB))).IsTrue();

        // unmapping what is not allocated changes nothing; a write there allocates again
        await Assert.That(s.Run(v, BdevIoType.Unmap, 4 * MiB, null, 4 * MiB)).IsEqualTo(0);
        await Assert.That(s.Lvs.FreeClusters).IsEqualTo(free + 2);
        await Assert.That(s.Run(v, BdevIoType.Write, MiB, data[..4096], 4096)).IsEqualTo(0);
        await Assert.That(s.Lvs.FreeClusters).IsEqualTo(free + 1);
        await Assert.That(s.Read(v, MiB, 4096).AsSpan().SequenceEqual(data.AsSpan(0, 4096))).IsTrue();
        await Assert.That(IsZero(s.Read(v, MiB + 4096, MiB - 4096))).IsTrue();

        IReadOnlyList<LvolCheckFinding> findings = s.UnloadAndCheck();
        await Assert.That(findings.Count).IsEqualTo(0);
    }

    [Test]
    public async Task Write_zeroes_gives_back_whole_clusters_and_reads_zeros()
    {
        using var s = new LvolMallocStore();
        string v = s.Volume("v", 4, thin: true);
        byte[] data = LvsFixtures.Pattern("wz", 2, 4 * MiB);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, data, 4 * MiB)).IsEqualTo(0);
        long free = s.Lvs.FreeClusters;
        await Assert.That(s.Run(v, BdevIoType.WriteZeroes, MiB, null, MiB + 4096)).IsEqualTo(0);
        await Assert.That(s.Lvs.FreeClusters).IsEqualTo(free + 1);
        byte[] back = s.Read(v, 0, 4 * MiB);
        await Assert.That(IsZero(back[MiB..(2 * MiB + 4096)])).IsTrue();
        await Assert.That(back.AsSpan(2 * MiB + 4096).SequenceEqual(data.AsSpan(2 * MiB + 4096))).IsTrue();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    public async Task Write_zeroes_on_a_clone_zeroes_its_copy_and_leaves_the_snapshot()
    {
        using var s = new LvolMallocStore();
        string v = s.Volume("v", 4, thin: true);
        byte[] data = LvsFixtures.Pattern("wzc", 3, 4 * MiB);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, data, 4 * MiB)).IsEqualTo(0);
        LvolBdev vol = s.Lvs.FindVolume("v")!;
        int rc = Bdevs.Bound(s.T, () => LvolSnapshots.Snapshot(vol, "snap", out _));
        await Assert.That(rc).IsEqualTo(0);
        string snap = s.Pool + "/snap";
        // a whole cluster and a part of another, both the snapshot's: each copied, then zeroed
        await Assert.That(s.Run(v, BdevIoType.WriteZeroes, MiB, null, MiB + 8192)).IsEqualTo(0);
        await Assert.That(vol.Blob.AllocatedClusters).IsEqualTo(2);
        byte[] back = s.Read(v, 0, 4 * MiB);
        await Assert.That(IsZero(back[MiB..(2 * MiB + 8192)])).IsTrue();
        await Assert.That(back.AsSpan(2 * MiB + 8192).SequenceEqual(data.AsSpan(2 * MiB + 8192))).IsTrue();
        await Assert.That(back.AsSpan(0, MiB).SequenceEqual(data.AsSpan(0, MiB))).IsTrue();
        await Assert.That(s.Read(snap, 0, 4 * MiB).AsSpan().SequenceEqual(data)).IsTrue();
        // unmap of a clone's whole cluster it does not own leaves it to the snapshot
        await Assert.That(s.Run(v, BdevIoType.Unmap, 3 * MiB, null, MiB)).IsEqualTo(0);
        await Assert.That(s.Read(v, 3 * MiB, MiB).AsSpan().SequenceEqual(data.AsSpan(3 * MiB))).IsTrue();
        await Assert.That(s.Run(snap, BdevIoType.Unmap, 0, null, MiB)).IsNotEqualTo(0); // read-only
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    public async Task A_thick_volume_keeps_its_clusters_and_reads_zeros()
    {
        using var s = new LvolMallocStore();
        string v = s.Volume("t", 2, thin: false);
        byte[] data = LvsFixtures.Pattern("thick", 4, 2 * MiB);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, data, 2 * MiB)).IsEqualTo(0);
        long free = s.Lvs.FreeClusters;
        await Assert.That(s.Run(v, BdevIoType.Unmap, 0, null, 2 * MiB)).IsEqualTo(0);
        await Assert.That(s.Lvs.FreeClusters).IsEqualTo(free);
        await Assert.That(IsZero(s.Read(v, 0, 2 * MiB))).IsTrue();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }
}
