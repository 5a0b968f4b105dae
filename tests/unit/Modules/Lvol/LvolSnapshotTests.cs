using System.Security.Cryptography;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>Snapshots and clones: copy-on-write of whole clusters on a clone SPDK made and on ours,
/// snapshot, clone, inflate, decouple and deleting a snapshot with one clone, each checked through
/// the bdev layer and then with the blobstore reader on main (relations, content, clean masks).</summary>
[NotInParallel(Keys.Threads)]
public class LvolSnapshotTests
{
    private const int MiB = 1 << 20;

    private static void Write(LvolTestStore f, string bdev, long offset, byte[] data)
    {
        BdevSession s = BdevSession.Open(f.Thread, bdev);
        try
        {
            using var buf = new DmaBuffer(data.Length);
            data.CopyTo(buf.Span);
            int rc = s.Run(BdevIoType.Write, buf.Pointer, (ulong)offset / s.Bdev.BlockSize,
                (ulong)data.Length / s.Bdev.BlockSize);
            if (rc != 0)
            {
                throw new InvalidOperationException($"write {bdev} at {offset}: {rc}");
            }
        }
        finally
        {
            s.Close();
        }
    }

    private static string Sha(byte[] b) => Convert.ToHexString(SHA256.HashData(b)).ToLowerInvariant();

    [Test]
    public async Task A_write_to_spdks_clone_copies_the_snapshots_cluster_and_keeps_the_rest()
    {
        if (!LvsFixtures.Has("lvsA.img"))
        {
            return;
        }
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-cow");
        using var f = LvolTestStore.FromFixture(t, "lvsA.img");
        f.Bring("lvsA", "import", 4096);
        byte[] before = f.ReadAll("lvsA/clone1");
        byte[] data = LvsFixtures.Pattern("cow", 1, 8192);
        Write(f, "lvsA/clone1", 4096, data);
        byte[] expected = (byte[])before.Clone();
        data.CopyTo(expected, 4096);
        bool reads = f.ReadAll("lvsA/clone1").AsSpan().SequenceEqual(expected);
        Dictionary<(string, string), string> sha = LvsFixtures.ManifestSha256();
        string snap = f.Sha256Of("lvsA/snap1"), thin = f.Sha256Of("lvsA/vol_thin");
        int unload = f.Unload();
        LvolStoreImage img = f.Reread();
        LvolImage c1 = img.Lvols.Single(l => l.Name == "clone1");
        byte[] file = File.ReadAllBytes(f.File);

        await Assert.That(reads).IsTrue();
        await Assert.That(snap).IsEqualTo(sha[("lvsA.img", "snap1")]);
        await Assert.That(thin).IsEqualTo(sha[("lvsA.img", "vol_thin")]);
        await Assert.That(unload).IsEqualTo(0);
        await Assert.That(c1.Blob.AllocatedClusters).IsEqualTo(
            LvsFixtures.Load("lvsA.img").Lvols.Single(l => l.Name == "clone1").Blob.AllocatedClusters + 1);
        await Assert.That(c1.Parent!.Name).IsEqualTo("snap1");
        await Assert.That(LvsFixtures.ReadVolume(img, c1, file).AsSpan().SequenceEqual(expected)).IsTrue();
    }

    [Test]
    public async Task Snapshot_clone_inflate_decouple_and_delete_keep_every_volumes_content()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-snap");
        using var f = new LvolTestStore(t, null, 64L * MiB);
        f.Bring("sp", "create", 4096, "&cluster_size=1M");
        f.Create("lvol:///v?size=4M&lvs=lvs:///sp");
        byte[] v0 = LvsFixtures.Pattern("v", 1, 4 * MiB);
        Write(f, "sp/v", 0, v0);
        LvolStore st = f.Store!;
        LvolBdev v = st.FindVolume("v")!;
        int snapRc = Bdevs.Bound(t, () => LvolSnapshots.Snapshot(v, "s1", out _));
        byte[] v1 = (byte[])v0.Clone();
        byte[] w1 = LvsFixtures.Pattern("v", 2, 4096);
        w1.CopyTo(v1, MiB + 8192);
        Write(f, "sp/v", MiB + 8192, w1);
        bool vReads1 = f.ReadAll("sp/v").AsSpan().SequenceEqual(v1);
        bool sReads = f.ReadAll("sp/s1").AsSpan().SequenceEqual(v0);
        int sWrite = TryWrite(f, "sp/s1");
        LvolBdev s1 = st.FindVolume("s1")!;
        int cloneRc = Bdevs.Bound(t, () => LvolSnapshots.Clone(s1, "c", out _));
        bool cReads = f.ReadAll("sp/c").AsSpan().SequenceEqual(v0);
        int inflate = Bdevs.Bound(t, () => LvolSnapshots.Inflate(st.FindVolume("c")!, decouple: false));
        bool cInflated = st.FindVolume("c")!.Blob.Parent == null && !st.FindVolume("c")!.Blob.IsThin &&
                         f.ReadAll("sp/c").AsSpan().SequenceEqual(v0);
        int snap2 = Bdevs.Bound(t, () => LvolSnapshots.Snapshot(v, "s2", out _));
        int decouple = Bdevs.Bound(t, () => LvolSnapshots.Inflate(v, decouple: true));
        bool vDecoupled = v.Blob.Parent == s1.Blob && f.ReadAll("sp/v").AsSpan().SequenceEqual(v1);
        bool gone2 = false, gone1 = false;
        int del2 = Bdevs.Bound(t, () => LvolVolumes.Delete(st.FindVolume("s2")!, _ => gone2 = true));
        ThreadHost.PollUntil(() => gone2, t);
        long freeBefore = st.FreeClusters;
        int del1 = Bdevs.Bound(t, () => LvolVolumes.Delete(s1, _ => gone1 = true));
        ThreadHost.PollUntil(() => gone1, t);
        ThreadHost.PollUntil(() => st.FreeClusters != freeBefore, t);
        bool vAlone = v.Blob.Parent == null && f.ReadAll("sp/v").AsSpan().SequenceEqual(v1);
        int unload = f.Unload();
        LvolStoreImage img = f.Reread();
        byte[] file = File.ReadAllBytes(f.File);

        await Assert.That(snapRc + cloneRc + inflate + snap2 + decouple + del2 + del1).IsEqualTo(0);
        await Assert.That(vReads1 && sReads && cReads).IsTrue();
        await Assert.That(sWrite).IsEqualTo(-Interop.Errno.EPERM);
        await Assert.That(cInflated).IsTrue();
        await Assert.That(vDecoupled).IsTrue();
        await Assert.That(vAlone).IsTrue();
        await Assert.That(st.FreeClusters - freeBefore).IsEqualTo(1); // the one s1 cluster v had replaced
        await Assert.That(unload).IsEqualTo(0);
        await Assert.That(img.Lvols.Select(l => l.Name).Order().ToArray()).IsEquivalentTo(new[] { "c", "v" });
        LvolImage iv = img.Lvols.Single(l => l.Name == "v"), ic = img.Lvols.Single(l => l.Name == "c");
        await Assert.That(iv.Parent).IsNull();
        await Assert.That(ic.Parent).IsNull();
        await Assert.That(ic.IsThin).IsFalse();
        await Assert.That(Sha(LvsFixtures.ReadVolume(img, iv, file))).IsEqualTo(Sha(v1));
        await Assert.That(Sha(LvsFixtures.ReadVolume(img, ic, file))).IsEqualTo(Sha(v0));
        await Assert.That(img.Store.FreeClusters).IsEqualTo((long)img.Store.Super.TotalDataClusters - 8);
    }

    private static int TryWrite(LvolTestStore f, string bdev)
    {
        int rc = BdevSession.TryOpen(f.Thread, bdev, write: true, out BdevSession? s);
        if (rc != 0)
        {
            return rc;
        }
        using var buf = new DmaBuffer(4096);
        rc = s!.Run(BdevIoType.Write, buf.Pointer, 0, 1);
        s.Close();
        return rc;
    }
}
