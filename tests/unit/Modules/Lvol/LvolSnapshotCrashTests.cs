using NativeBdev.Bdev;
using NativeBdev.Modules.Lvol;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>What a crash inside a snapshot leaves, made by hand on disk: the snapshot written with its
/// in-progress mark (SNAPTMP) and the volume either not yet its clone (the import drops the snapshot;
/// the volume keeps its data) or already its clone (the import keeps the snapshot and writes it without
/// the mark, so that deleting the volume later does not make the next import take it for unfinished).
/// test_lvol_crash found both.</summary>
[NotInParallel(Keys.Threads)]
public class LvolSnapshotCrashTests
{
    private const int MiB = 1 << 20;

    private static int Mark(LvolStore store, LvolBlob snap, LvolBlob volume)
    {
        LvolBlob.Set(snap.InternalXattrs, LvolStore.SnapshotInProgress, BitConverter.GetBytes(volume.Id));
        return LvolVolumes.WithMd(store, io => store.Persist(io, snap));
    }

    [Test]
    public async Task A_snapshot_its_volume_never_named_is_dropped_by_the_import()
    {
        using var s = new LvolMallocStore();
        string v = s.Volume("v", 2, thin: true);
        byte[] data = LvsFixtures.Pattern("snapcrash", 1, 2 * MiB);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, data, 2 * MiB)).IsEqualTo(0);
        LvolBdev vol = s.Lvs.FindVolume("v")!;
        uint[] own = vol.Blob.Clusters;
        await Assert.That(Bdevs.Bound(s.T, () => LvolSnapshots.Snapshot(vol, "snap", out _))).IsEqualTo(0);
        LvolBlob snap = s.Lvs.FindVolume("snap")!.Blob;
        // the disk as a crash between the snapshot's write and the volume's leaves it
        await Assert.That(Bdevs.Bound(s.T, () => Mark(s.Lvs, snap, vol.Blob))).IsEqualTo(0);
        LvolBlob.Remove(vol.Blob.InternalXattrs, "SNAP");
        int rc = Bdevs.Bound(s.T, () => LvolVolumes.WithMd(s.Lvs, io => s.Lvs.Persist(io, vol.Blob, own)));
        await Assert.That(rc).IsEqualTo(0);
        s.Unload();

        s.Import();
        await Assert.That(s.Lvs.FindVolume("snap")).IsNull();
        LvolBdev again = s.Lvs.FindVolume("v")!;
        await Assert.That(again.Blob.Parent).IsNull();
        await Assert.That(s.Read(v, 0, 2 * MiB).AsSpan().SequenceEqual(data)).IsTrue();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    public async Task A_finished_snapshot_still_marked_survives_its_volumes_delete()
    {
        using var s = new LvolMallocStore();
        string v = s.Volume("v", 2, thin: true);
        byte[] data = LvsFixtures.Pattern("snapdone", 2, 2 * MiB);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, data, 2 * MiB)).IsEqualTo(0);
        LvolBdev vol = s.Lvs.FindVolume("v")!;
        await Assert.That(Bdevs.Bound(s.T, () => LvolSnapshots.Snapshot(vol, "snap", out _))).IsEqualTo(0);
        // the disk as a crash after the volume's write, before the mark's removal, leaves it
        await Assert.That(Bdevs.Bound(s.T, () => Mark(s.Lvs, s.Lvs.FindVolume("snap")!.Blob, vol.Blob))).IsEqualTo(0);
        s.Unload();

        s.Import();
        await Assert.That(s.Lvs.FindVolume("snap")).IsNotNull();
        bool deleted = false;
        int rc = Bdevs.Bound(s.T, () => LvolVolumes.Delete(s.Lvs.FindVolume("v")!, _ => deleted = true));
        await Assert.That(rc).IsEqualTo(0);
        ThreadHost.PollUntil(() => deleted, s.T);
        s.Unload();
        s.Import();
        await Assert.That(s.Lvs.FindVolume("snap")).IsNotNull();
        await Assert.That(s.Read(s.Pool + "/snap", 0, 2 * MiB).AsSpan().SequenceEqual(data)).IsTrue();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }
}
