using NativeBdev.Bdev;
using NativeBdev.Modules.Lvol;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>SPDK's clear methods: a store's (none / unmap, the default / write_zeroes) over its data
/// region when it is made, and a volume's (kept in its blob's md_ro flags) over the clusters it
/// gives back when deleted or shrunk; an unmap's released cluster is unmapped before it is free.
/// Over a malloc base (its unmap zeroes) that held 0x5A everywhere before the store was made; a
/// thick volume made afterwards on the same clusters shows whether they were cleared.</summary>
[NotInParallel(Keys.Threads)]
public class LvolClearTests
{
    private const int MiB = 1 << 20;
    private const byte Old = 0x5A;

    private static bool All(byte[] b, byte value) => b.AsSpan().IndexOfAnyExcept(value) < 0;

    /// <summary>Deletes volume <paramref name="name"/> and polls until its bdev is gone.</summary>
    private static int Delete(LvolMallocStore s, string name)
    {
        bool done = false;
        LvolBdev v = s.Lvs.FindVolume(name)!;
        int rc = Bdevs.Bound(s.T, () => LvolVolumes.Delete(v, _ => done = true));
        return rc != 0 ? rc : ThreadHost.PollUntil(() => done, s.T) ? 0 : -110;
    }

    [Test]
    [Arguments("", (byte)0)]
    [Arguments("&clear_method=unmap", (byte)0)]
    [Arguments("&clear_method=write_zeroes", (byte)0)]
    [Arguments("&clear_method=none", Old)]
    public async Task A_new_store_clears_its_data_region_as_its_clear_method_says(string query, byte expected)
    {
        using var s = new LvolMallocStore(query, Old);
        string v = s.Volume("thick", 16, thin: false);
        await Assert.That(All(s.Read(v, 0, 16 * MiB), expected)).IsTrue();
        // the whole data region from the end of the metadata on, read on the base after an unload
        long mdEnd = ((long)s.Lvs.Super.MdStart + s.Lvs.Super.MdLength) * 4096;
        s.Unload();
        bool cleared = true;
        for (long at = mdEnd; at < LvolMallocStore.BaseBytes; at += MiB)
        {
            cleared &= All(s.Read(s.Base, at, Math.Min(MiB, LvolMallocStore.BaseBytes - at)), expected);
        }
        await Assert.That(cleared).IsTrue();
    }

    [Test]
    public async Task A_bad_clear_method_is_refused_with_its_name()
    {
        using var s = new LvolMallocStore();
        var r = Bdevs.Bound(s.T, () => Bdevs.TryCreate(
            $"lvol:///x?size=1M&clear_method=shred&lvs=lvs:///{s.Pool}"));
        await Assert.That(r.Rc).IsEqualTo(-22);
        await Assert.That(r.Message).Contains("shred");
        await Assert.That(LvolClear.Parse("WRITE_ZEROES", LvolClearMethod.Default, out LvolClearMethod m)).IsEqualTo(0);
        await Assert.That(m).IsEqualTo(LvolClearMethod.WriteZeroes);
    }

    [Test]
    [Arguments("", (byte)0)]
    [Arguments("&clear_method=unmap", (byte)0)]
    [Arguments("&clear_method=write_zeroes", (byte)0)]
    [Arguments("&clear_method=none", Old)]
    public async Task A_deleted_volume_s_clusters_are_cleared_as_its_clear_method_says(string extra, byte expected)
    {
        using var s = new LvolMallocStore("&clear_method=none", 0);
        string v = s.Volume("v", 4, thin: false, extra);
        var old = new byte[4 * MiB];
        Array.Fill(old, Old);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, old, 4 * MiB)).IsEqualTo(0);
        uint[] clusters = (uint[])s.Lvs.FindVolume("v")!.Blob.Clusters.Clone();
        await Assert.That(Delete(s, "v")).IsEqualTo(0);
        await Assert.That(s.Lvs.Drain.Pending).IsEqualTo(0);
        string w = s.Volume("w", 4, thin: false);
        await Assert.That(s.Lvs.FindVolume("w")!.Blob.Clusters.SequenceEqual(clusters)).IsTrue();
        await Assert.That(All(s.Read(w, 0, 4 * MiB), expected)).IsTrue();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    [Arguments("", (byte)0)]
    [Arguments("&clear_method=none", Old)]
    public async Task A_shrink_clears_the_clusters_past_the_end_as_the_volume_s_method_says(string extra, byte expected)
    {
        using var s = new LvolMallocStore("&clear_method=none", 0);
        string v = s.Volume("v", 4, thin: false, extra);
        var old = new byte[4 * MiB];
        Array.Fill(old, Old);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, old, 4 * MiB)).IsEqualTo(0);
        LvolBdev vol = s.Lvs.FindVolume("v")!;
        uint[] before = vol.Blob.Clusters;
        await Assert.That(Bdevs.Bound(s.T, () => LvolVolumes.Resize(vol, 2 * (ulong)MiB))).IsEqualTo(0);
        await Assert.That(Bdevs.Bound(s.T, () => LvolVolumes.Resize(vol, 4 * (ulong)MiB))).IsEqualTo(0);
        await Assert.That(vol.Blob.Clusters.SequenceEqual(before)).IsTrue(); // thick: the lowest free again
        byte[] back = s.Read(v, 0, 4 * MiB);
        await Assert.That(All(back[..(2 * MiB)], Old)).IsTrue();
        await Assert.That(All(back[(2 * MiB)..], expected)).IsTrue();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    public async Task An_unmapped_cluster_of_a_thin_volume_is_unmapped_before_another_volume_gets_it()
    {
        using var s = new LvolMallocStore("&clear_method=none", 0);
        string v = s.Volume("v", 2, thin: true, "&clear_method=none");
        var old = new byte[MiB];
        Array.Fill(old, Old);
        await Assert.That(s.Run(v, BdevIoType.Write, 0, old, MiB)).IsEqualTo(0);
        uint device = s.Lvs.FindVolume("v")!.Blob.Clusters[0];
        await Assert.That(s.Run(v, BdevIoType.Unmap, 0, null, MiB)).IsEqualTo(0);
        string w = s.Volume("w", 1, thin: false);
        await Assert.That(s.Lvs.FindVolume("w")!.Blob.Clusters[0]).IsEqualTo(device);
        await Assert.That(All(s.Read(w, 0, MiB), 0)).IsTrue();
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }

    [Test]
    public async Task The_clear_method_is_kept_in_md_ro_flags_and_taken_by_snapshots_and_clones()
    {
        using var s = new LvolMallocStore();
        s.Volume("v", 2, thin: true, "&clear_method=write_zeroes");
        LvolBdev vol = s.Lvs.FindVolume("v")!;
        await Assert.That(vol.Blob.MdRoFlags).IsEqualTo(3UL); // SPDK's BLOB_CLEAR_WITH_WRITE_ZEROES
        await Assert.That(Bdevs.Bound(s.T, () => LvolSnapshots.Snapshot(vol, "snap", out _))).IsEqualTo(0);
        LvolBdev snap = s.Lvs.FindVolume("snap")!;
        await Assert.That(Bdevs.Bound(s.T, () => LvolSnapshots.Clone(snap, "clone", out _))).IsEqualTo(0);
        s.Volume("plain", 1, thin: true);
        s.Unload();
        s.Import();
        await Assert.That(LvolClear.Of(s.Lvs.FindVolume("v")!.Blob)).IsEqualTo(LvolClearMethod.WriteZeroes);
        await Assert.That(LvolClear.Of(s.Lvs.FindVolume("snap")!.Blob)).IsEqualTo(LvolClearMethod.WriteZeroes);
        await Assert.That(LvolClear.Of(s.Lvs.FindVolume("clone")!.Blob)).IsEqualTo(LvolClearMethod.WriteZeroes);
        await Assert.That(LvolClear.Of(s.Lvs.FindVolume("plain")!.Blob)).IsEqualTo(LvolClearMethod.Default);
        await Assert.That(s.UnloadAndCheck().Count).IsEqualTo(0);
    }
}
