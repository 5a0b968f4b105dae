using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>The lvol read and overwrite paths allocate nothing per I/O: a thick volume, a thin one
/// once its clusters are allocated (the warm-up allocates them all, which may allocate), and a
/// clone reading through its snapshot, over a malloc base, each I/O resubmitted from the completion
/// of an earlier one.</summary>
[NotInParallel(Keys.Threads)]
public class LvolAllocationTests
{
    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task Lvol_io_allocates_nothing(bool thin)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create($"lvol-alloc-{thin}");
        string pool = Bdevs.Unique("pa");
        string disk = Uri.EscapeDataString($"malloc:///{pool}-base?size_mb=32&blk_size=4096");
        Bdevs.Bound(t, () => Bdevs.Create($"lvs:///{pool}?mode=create&cluster_size=1M&disk={disk}"));
        string name = Bdevs.Bound(t, () => Bdevs.Create($"lvol:///v?size=8M&thin={(thin ? 1 : 0)}&lvs=lvs:///{pool}"));
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096).Fill(seed: 1);
        var chain = new IoChain(s.Channel, s.Desc, buf.Pointer, s.Bdev.BlockCount);
        chain.Run(t, 4_000, 32);
        long bytes = chain.Run(t, 20_000, 32);
        s.Close();
        LvolStore store = LvolStore.Find(pool)!;
        long allocated = store.FindVolume("v")!.Blob.AllocatedClusters;
        bool unloaded = false;
        Bdevs.Bound(t, () => store.Unload(false, _ => unloaded = true));
        ThreadHost.PollUntil(() => unloaded, t);

        await Assert.That(chain.Completed).IsEqualTo(20_000);
        await Assert.That(chain.Errors).IsEqualTo(0);
        await Assert.That(bytes).IsEqualTo(0L);
        await Assert.That(allocated).IsEqualTo(8);
        await Assert.That(unloaded).IsTrue();
    }
}
