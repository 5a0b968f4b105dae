using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Interop;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>Stores we create: the layout SPDK's bs_init makes, thick and thin volumes written
/// through the bdev layer (thin clusters allocated on first write, by the metadata thread), and
/// what the blobstore reader on main then finds on the file — while the store is up (dirty,
/// replayed) and after it is unloaded (clean) — and what a re-import reads.</summary>
[NotInParallel(Keys.Threads)]
public class LvolWriterTests
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

    private static int TryWriteBlock(LvolTestStore f, string bdev, long offset)
    {
        BdevSession s = BdevSession.Open(f.Thread, bdev);
        try
        {
            using var buf = new DmaBuffer(4096);
            buf.Fill(seed: 5);
            return s.Run(BdevIoType.Write, buf.Pointer, (ulong)offset / s.Bdev.BlockSize, 4096 / s.Bdev.BlockSize);
        }
        finally
        {
            s.Close();
        }
    }

    private static byte[] ReaderContent(LvolStoreImage lvs, string name, byte[] file) =>
        LvsFixtures.ReadVolume(lvs, lvs.Lvols.Single(l => l.Name == name), file);

    [Test]
    public async Task A_created_store_reads_back_through_the_reader_on_main_and_a_reimport()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-w");
        using var f = new LvolTestStore(t, null, 64L * MiB);
        int made = f.Bring("p1", "create", 4096, "&cluster_size=1M");
        var thick = f.Create("lvol:///thick?size=8M&lvs=lvs:///p1");
        var thin = f.Create("lvol:///thin?size=16M&thin=true&lvs=lvs:///p1");
        byte[] thickData = LvsFixtures.Pattern("thick", 1, 8 * MiB);
        var thinData = new byte[16 * MiB];
        byte[] a = LvsFixtures.Pattern("thin", 2, 8192), b = LvsFixtures.Pattern("thin", 3, MiB);
        a.CopyTo(thinData, (2 * MiB) + 4096);
        b.CopyTo(thinData, 10 * MiB);
        Write(f, "p1/thick", 0, thickData);
        Write(f, "p1/thin", (2 * MiB) + 4096, a);
        Write(f, "p1/thin", 10 * MiB, b);
        bool thickReads = f.ReadAll("p1/thick").AsSpan().SequenceEqual(thickData);
        bool thinReads = f.ReadAll("p1/thin").AsSpan().SequenceEqual(thinData);
        long allocations = f.Store!.Allocator.Allocations;
        LvolStoreImage dirty = f.Reread();
        byte[] dirtyFile = File.ReadAllBytes(f.File);
        int unload = f.Unload();
        LvolStoreImage clean = f.Reread();
        byte[] cleanFile = File.ReadAllBytes(f.File);
        int again = f.Bring("p1", "import", 4096);
        bool reimportThin = f.ReadAll("p1/thin").AsSpan().SequenceEqual(thinData);
        bool reimportThick = f.ReadAll("p1/thick").AsSpan().SequenceEqual(thickData);

        await Assert.That(made).IsEqualTo(0);
        await Assert.That(thick.Rc + thin.Rc).IsEqualTo(0);
        await Assert.That(thick.Name).IsEqualTo("p1/thick");
        await Assert.That(thickReads && thinReads).IsTrue();
        await Assert.That(allocations).IsEqualTo(2);
        await Assert.That(dirty.Store.Replayed).IsTrue();
        await Assert.That(ReaderContent(dirty, "thin", dirtyFile).AsSpan().SequenceEqual(thinData)).IsTrue();
        await Assert.That(unload).IsEqualTo(0);
        await Assert.That(clean.Store.Super.Clean && !clean.Store.Replayed).IsTrue();
        await Assert.That(clean.Name).IsEqualTo("p1");
        await Assert.That(clean.Store.Super.ClusterSize).IsEqualTo((uint)MiB);
        await Assert.That(clean.Store.Super.MdLength).IsEqualTo(64u); // SPDK: one page per cluster
        await Assert.That(clean.Store.Super.BsType).IsEqualTo("LVOLSTORE");
        await Assert.That(clean.Lvols.Select(l => l.Name).Order().ToArray()).IsEquivalentTo(new[] { "thick", "thin" });
        LvolImage th = clean.Lvols.Single(l => l.Name == "thin");
        await Assert.That(th.IsThin).IsTrue();
        await Assert.That(th.Blob.AllocatedClusters).IsEqualTo(2);
        await Assert.That(th.SizeBytes).IsEqualTo(16UL * MiB);
        await Assert.That(clean.Lvols.Single(l => l.Name == "thick").IsThin).IsFalse();
        await Assert.That(clean.Store.FreeClusters).IsEqualTo((long)clean.Store.Super.TotalDataClusters - 10);
        await Assert.That(ReaderContent(clean, "thin", cleanFile).AsSpan().SequenceEqual(thinData)).IsTrue();
        await Assert.That(ReaderContent(clean, "thick", cleanFile).AsSpan().SequenceEqual(thickData)).IsTrue();
        await Assert.That(again).IsEqualTo(0);
        await Assert.That(reimportThin && reimportThick).IsTrue();
    }

    [Test]
    public async Task A_full_store_answers_ENOSPC_and_keeps_what_it_has()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-full");
        using var f = new LvolTestStore(t, null, 8L * MiB);
        int made = f.Bring("full", "create", 4096, "&cluster_size=1M");
        long free = f.Store!.FreeClusters;
        var thickTooBig = f.Create("lvol:///big?size=8M&lvs=lvs:///full");
        var thin = f.Create("lvol:///t?size=16M&thin=1&lvs=lvs:///full");
        var results = new List<int>();
        for (int c = 0; c < free + 1; c++)
        {
            results.Add(TryWriteBlock(f, "p/t".Replace("p", "full"), (long)c * MiB));
        }
        int overwrite = TryWriteBlock(f, "full/t", 4096);
        int unload = f.Unload();
        LvolStoreImage clean = f.Reread();

        await Assert.That(made).IsEqualTo(0);
        await Assert.That(free).IsEqualTo(7);
        await Assert.That(thickTooBig.Rc).IsEqualTo(-Errno.ENOSPC);
        await Assert.That(thin.Rc).IsEqualTo(0);
        await Assert.That(results.Take((int)free).All(r => r == 0)).IsTrue();
        await Assert.That(results[^1]).IsEqualTo(-Errno.ENOSPC);
        await Assert.That(overwrite).IsEqualTo(0);
        await Assert.That(unload).IsEqualTo(0);
        await Assert.That(clean.Store.FreeClusters).IsEqualTo(0);
        await Assert.That(clean.Lvols.Single().Blob.AllocatedClusters).IsEqualTo(7);
    }

    [Test]
    public async Task Resize_rename_read_only_and_delete_are_written_and_read_back()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-ops");
        using var f = new LvolTestStore(t, null, 32L * MiB);
        f.Bring("ops", "create", 512, "&cluster_size=1M");
        f.Create("lvol:///a?size=8M&lvs=lvs:///ops");
        f.Create("lvol:///b?size=4M&thin=1&lvs=lvs:///ops");
        f.Create("lvol:///c?size=2M&thin=1&lvs=lvs:///ops");
        Write(f, "ops/b", 0, LvsFixtures.Pattern("b", 1, MiB));
        long free0 = f.Store!.FreeClusters;
        LvolBdev a = f.Store.FindVolume("a")!, b = f.Store.FindVolume("b")!, c = f.Store.FindVolume("c")!;
        int shrink = Bdevs.Bound(t, () => LvolVolumes.Resize(a, 4 * MiB));
        long free1 = f.Store.FreeClusters;
        int grow = Bdevs.Bound(t, () => LvolVolumes.Resize(b, 12 * MiB));
        ulong bSize = Bdevs.Find("ops/b").SizeBytes;
        int rename = Bdevs.Bound(t, () => LvolVolumes.Rename(b, "bee"));
        int ro = Bdevs.Bound(t, () => LvolVolumes.SetReadOnly(a));
        int roWrite = TryWriteBlock(f, "ops/a", 0);
        bool deleted = false;
        int del = Bdevs.Bound(t, () => LvolVolumes.Delete(c, _ => deleted = true));
        ThreadHost.PollUntil(() => deleted, t);
        bool cGone = BdevRegistry.Find("ops/c") == null;
        int unload = f.Unload();
        LvolStoreImage img = f.Reread();
        byte[] file = File.ReadAllBytes(f.File);

        await Assert.That(shrink + grow + rename + ro + del).IsEqualTo(0);
        await Assert.That(free1 - free0).IsEqualTo(4);
        await Assert.That(bSize).IsEqualTo(12UL * MiB);
        await Assert.That(roWrite).IsEqualTo(-Errno.EPERM);
        await Assert.That(deleted && cGone).IsTrue();
        await Assert.That(unload).IsEqualTo(0);
        await Assert.That(img.Lvols.Select(l => l.Name).Order().ToArray()).IsEquivalentTo(new[] { "a", "bee" });
        LvolImage ia = img.Lvols.Single(l => l.Name == "a"), ib = img.Lvols.Single(l => l.Name == "bee");
        await Assert.That(ia.SizeBytes).IsEqualTo(4UL * MiB);
        await Assert.That(ia.IsReadOnly).IsTrue();
        await Assert.That(ib.SizeBytes).IsEqualTo(12UL * MiB);
        await Assert.That(img.Store.Super.IoUnitSize).IsEqualTo(512u);
        byte[] bData = ReaderContent(img, "bee", file);
        await Assert.That(bData.AsSpan(0, MiB).SequenceEqual(LvsFixtures.Pattern("b", 1, MiB))).IsTrue();
        await Assert.That(bData.AsSpan(MiB).ContainsAnyExcept((byte)0)).IsFalse();
        await Assert.That(img.Store.FreeClusters).IsEqualTo((long)img.Store.Super.TotalDataClusters - 5);
    }
}
