using NativeBdev.Bdev;
using NativeBdev.Modules.Lvol;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>A snapshot whose last write (removing SPDK's in-progress mark) fails is finished and
/// acknowledged: its volume names it, which tells an import it was finished. A later change that
/// ends that (here the volume's delete) must write the snapshot first, or the next import drops an
/// acknowledged snapshot (test_lvol_crash's fault variant found this).</summary>
[NotInParallel(Keys.Threads)]
public class LvolSnapshotMarkTests
{
    [Test]
    public async Task A_snapshot_whose_mark_stayed_on_disk_survives_its_volume_s_delete_and_an_import()
    {
        using var s = new LvolMallocStore();
        s.Volume("v", 2, thin: true);
        LvolBdev v = s.Lvs.FindVolume("v")!;
        // the snapshot writes itself, then the volume, then itself without the mark: fail the third
        int rule = FaultRegistry.Add($"inject://{s.Base}?op=write&offset=0&num_blk=256&every=3&count=1");
        int rc = Bdevs.Bound(s.T, () => LvolSnapshots.Snapshot(v, "snap", out _));
        FaultRegistry.Remove(rule);
        int marked = s.Lvs.MarkedOnDisk.Count;
        bool done = false;
        int del = Bdevs.Bound(s.T, () => LvolVolumes.Delete(v, _ => done = true));
        bool gone = ThreadHost.PollUntil(() => done, s.T);
        int left = s.Lvs.MarkedOnDisk.Count;
        s.Unload();
        s.Import();
        LvolBdev? snap = s.Lvs.FindVolume("snap");

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(del).IsEqualTo(0);
        await Assert.That(gone).IsTrue();
        await Assert.That(snap).IsNotNull(); // the acknowledged snapshot, after the import
        await Assert.That(marked).IsEqualTo(1);
        await Assert.That(left).IsEqualTo(0);
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }
}
