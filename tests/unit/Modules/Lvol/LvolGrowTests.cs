using NativeBdev.Bdev;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>bdev_lvol_grow_lvstore: a store made on a base that then grows takes the new clusters
/// in (free, usable by a volume), keeps them across a clean unload and import, and checks clean;
/// a base that has not grown is no change.</summary>
[NotInParallel(Keys.Threads)]
public class LvolGrowTests
{
    [Test]
    public async Task A_grown_base_gives_the_store_its_new_clusters_across_an_import()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-grow");
        string pool = Bdevs.Unique("pg");
        string baseName = Bdevs.Bound(t, () => Bdevs.Malloc(pool + "-base", "size_mb=64&blk_size=4096"));
        BlockDevice b = Bdevs.Find(baseName);
        await Assert.That(Bdevs.Bound(t, () => b.Resize((32UL << 20) / 4096))).IsEqualTo(0);
        string disk = $"disk=bdev%3A%2F%2F%2F{baseName}";
        Bdevs.Bound(t, () => Bdevs.Create($"lvs:///{pool}?mode=create&cluster_size=1M&{disk}"));
        LvolStore s = LvolStore.Find(pool)!;
        ulong data = s.TotalDataClusters;
        long free = s.FreeClusters;

        await Assert.That(Bdevs.Bound(t, s.Grow)).IsEqualTo(0); // not grown: no change
        await Assert.That(s.TotalDataClusters).IsEqualTo(data);
        await Assert.That(Bdevs.Bound(t, () => b.Resize((64UL << 20) / 4096))).IsEqualTo(0);
        await Assert.That(Bdevs.Bound(t, s.Grow)).IsEqualTo(0);
        await Assert.That(s.TotalDataClusters).IsEqualTo(data + 32);
        await Assert.That(s.FreeClusters).IsEqualTo(free + 32);

        // a thick volume larger than the store was before
        string v = Bdevs.Bound(t, () => Bdevs.Create($"lvol:///big?size={free + 16}M&thin=0&lvs=lvs:///{pool}"));
        await Assert.That(Bdevs.Find(v).SizeBytes).IsEqualTo((ulong)(free + 16) << 20);

        bool done = false;
        Bdevs.Bound(t, () => s.Unload(false, _ => done = true));
        ThreadHost.PollUntil(() => done, t);
        LvolCheckReport? report = null;
        await Assert.That(Bdevs.Bound(t, () => LvolCheckBdev.Check(baseName, out report))).IsEqualTo(0);
        await Assert.That(report!.Findings.Count).IsEqualTo(0);

        Bdevs.Bound(t, () => Bdevs.Create($"lvs:///{pool}?mode=import&{disk}"));
        LvolStore again = LvolStore.Find(pool)!;
        await Assert.That(again.TotalDataClusters).IsEqualTo(data + 32);
        await Assert.That(again.FreeClusters).IsEqualTo(free + 32 - (free + 16));
        done = false;
        Bdevs.Bound(t, () => again.Unload(false, _ => done = true));
        ThreadHost.PollUntil(() => done, t);
        Bdevs.DestroyAndWait(baseName, t);
    }
}
