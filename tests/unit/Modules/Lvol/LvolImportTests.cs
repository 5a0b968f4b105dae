using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>The stores SPDK made (fixtures/lvs) brought up as lvol bdevs over an aio bdev on a copy:
/// every volume a bdev LVS/NAME with its UUID and size, reading (through its cluster map, its
/// snapshot's, and zeros) exactly what the MANIFEST's SHA-256 says; the store marked dirty while up
/// and clean again once unloaded, as the blobstore reader on main reads it back.</summary>
[NotInParallel(Keys.Threads)]
public class LvolImportTests
{
    public static IEnumerable<(string Image, string Pool, uint Block)> Stores()
    {
        foreach (var s in new[] { ("lvsA", "lvsA", 4096u), ("lvsB", "lvsB", 512u), ("pool0", "pool0", 4096u) })
        {
            if (LvsFixtures.Has(s.Item1 + ".img"))
            {
                yield return s;
            }
        }
    }

    [Test]
    [MethodDataSource(nameof(Stores))]
    public async Task Every_volume_reads_as_the_manifest_says(string image, string pool, uint block)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-imp");
        using var f = LvolTestStore.FromFixture(t, image + ".img");
        LvolStoreImage expected = LvsFixtures.Load(image + ".img");
        int rc = f.Bring(pool, "import", block);
        if (rc != 0)
        {
            throw new InvalidOperationException($"bring: {rc} {f.Message}");
        }
        LvolStoreImage whileUp = f.Reread();
        var hashes = LvsFixtures.ManifestSha256().Where(kv => kv.Key.Image == image + ".img").ToList();
        var got = hashes.ToDictionary(kv => kv.Key.Volume, kv => f.Sha256Of(pool + "/" + kv.Key.Volume));
        var uuids = expected.Lvols.ToDictionary(l => l.Name, l => Bdevs.Find(pool + "/" + l.Name).Uuid.ToString());
        var sizes = expected.Lvols.ToDictionary(l => l.Name, l => Bdevs.Find(pool + "/" + l.Name).SizeBytes);
        uint blockSize = Bdevs.Find(pool + "/" + expected.Lvols[0].Name).BlockSize;
        int unload = f.Unload();
        bool gone = expected.Lvols.All(l => BdevRegistry.Find(pool + "/" + l.Name) == null);
        LvolStoreImage after = f.Reread();

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(whileUp.Store.Super.Clean).IsFalse();
        await Assert.That(hashes.Count).IsGreaterThan(0);
        foreach (var kv in hashes)
        {
            await Assert.That(got[kv.Key.Volume]).IsEqualTo(kv.Value);
        }
        foreach (LvolImage l in expected.Lvols)
        {
            await Assert.That(uuids[l.Name]).IsEqualTo(l.Uuid);
            await Assert.That(sizes[l.Name]).IsEqualTo(l.SizeBytes);
        }
        await Assert.That(blockSize).IsEqualTo(block);
        await Assert.That(unload).IsEqualTo(0);
        await Assert.That(gone).IsTrue();
        await Assert.That(after.Store.Super.Clean).IsTrue();
        await Assert.That(after.Store.Replayed).IsFalse();
        await Assert.That(after.Lvols.Count).IsEqualTo(expected.Lvols.Count);
        await Assert.That(after.Store.FreeClusters).IsEqualTo(expected.Store.FreeClusters);
    }

    [Test]
    public async Task A_store_left_dirty_by_kill_9_is_replayed_and_reads_as_spdk_recovered_it()
    {
        if (!LvsFixtures.Has("lvsA-dirty.img"))
        {
            return;
        }
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-dirty");
        using var f = LvolTestStore.FromFixture(t, "lvsA-dirty.img");
        int rc = f.Bring("lvsA", "import", 4096);
        var hashes = LvsFixtures.ManifestSha256().Where(kv => kv.Key.Image == "lvsA.img" && kv.Key.Volume != "clone1");
        var got = hashes.Select(kv => (kv.Value, Got: f.Sha256Of("lvsA/" + kv.Key.Volume))).ToList();
        byte[] clone1 = f.ReadAll("lvsA/clone1");
        byte[] pattern = LvsFixtures.Pattern("vol_thin", 9, 8 << 20);
        byte[] before = LvsFixtures.ReadVolume(LvsFixtures.Load("lvsA.img"),
            LvsFixtures.Load("lvsA.img").Lvols.Single(l => l.Name == "clone1"), LvsFixtures.Image("lvsA.img"));
        int fresh = 0, neither = 0;
        for (int b = 0; b < (8 << 20) / 4096; b++)
        {
            var blk = clone1.AsSpan(b * 4096, 4096);
            if (blk.SequenceEqual(pattern.AsSpan(b * 4096, 4096)))
            {
                fresh++;
            }
            else if (!blk.SequenceEqual(before.AsSpan(b * 4096, 4096)))
            {
                neither++;
            }
        }
        bool restSame = clone1.AsSpan(8 << 20).SequenceEqual(before.AsSpan(8 << 20));
        int unload = f.Unload();
        LvolStoreImage after = f.Reread();

        await Assert.That(rc).IsEqualTo(0);
        foreach (var (want, have) in got)
        {
            await Assert.That(have).IsEqualTo(want);
        }
        await Assert.That(neither).IsEqualTo(0);
        await Assert.That(fresh).IsGreaterThan(0);
        await Assert.That(restSame).IsTrue();
        await Assert.That(unload).IsEqualTo(0);
        await Assert.That(after.Store.Super.Clean).IsTrue();
        await Assert.That(after.Store.Replayed).IsFalse();
    }

    [Test]
    public async Task Import_refuses_a_bdev_without_a_store_and_a_store_of_another_name()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-bad");
        using var empty = new LvolTestStore(t, null, 8 << 20);
        int none = empty.Bring("p", "import", 4096);
        using var f = LvolTestStore.FromFixture(t, "lvsB.img");
        int other = f.Bring("notlvsB", "import", 512);
        int polls = 0;
        ThreadHost.PollUntil(() => ++polls > 200, t); // the refused store's aio bdev goes
        int again = f.Bring("lvsB", "import", 512);

        await Assert.That(none).IsEqualTo(-Interop.Errno.ENODEV);
        await Assert.That(other).IsEqualTo(-Interop.Errno.EINVAL);
        await Assert.That(again).IsEqualTo(0);
    }

    [Test]
    public async Task A_bdev_that_appears_with_a_store_brings_it_up_by_examine()
    {
        if (!LvsFixtures.Has("lvsB.img"))
        {
            return;
        }
        using var host = new ThreadHost();
        LightweightThread t = host.Create("lvol-examine");
        using var f = LvolTestStore.FromFixture(t, "lvsB.img");
        var aio = f.Create(f.Disk(512));
        LvolStore? store = LvolStore.Find("lvsB");
        int volumes = store?.Volumes.Count ?? -1;
        string claim = Bdevs.Find(aio.Name!).ClaimOwner ?? "";
        string sha = f.Sha256Of("lvsB/small_thin");
        var viaUri = f.Create($"lvol:///small_thin?lvs={Uri.EscapeDataString("lvs:///lvsB?mode=import")}");
        bool gone = Bdevs.DestroyAndWait(aio.Name!, t) &&
                    ThreadHost.PollUntil(() => BdevRegistry.Find("lvsB/small_thin") == null, t);
        bool unloaded = LvolStore.Find("lvsB") == null;
        LvolStoreImage left = f.Reread();

        await Assert.That(aio.Rc).IsEqualTo(0);
        await Assert.That(store).IsNotNull();
        await Assert.That(volumes).IsEqualTo(2);
        await Assert.That(claim).IsEqualTo("lvol");
        await Assert.That(sha).IsEqualTo(LvsFixtures.ManifestSha256()[("lvsB.img", "small_thin")]);
        await Assert.That(viaUri.Rc).IsEqualTo(0);
        await Assert.That(viaUri.Name).IsEqualTo("lvsB/small_thin");
        await Assert.That(gone && unloaded).IsTrue();
        await Assert.That(left.Store.Replayed).IsTrue(); // its base went first: left dirty, replayed
        await Assert.That(left.Lvols.Count).IsEqualTo(2);
    }
}
