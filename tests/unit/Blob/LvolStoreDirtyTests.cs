using System.Security.Cryptography;
using NativeBdev.Blob;

namespace NativeBdev.Tests.Blob;

/// <summary>lvsA-dirty.img: lvsA after spdk_dd was killed with SIGKILL while writing clone1, so the
/// super block says clean = 0 and the masks on disk are stale: the masks are rebuilt by replaying
/// the metadata region, as SPDK's bs_recover does.</summary>
public class LvolStoreDirtyTests
{
    [Test]
    public async Task A_dirty_store_is_replayed_and_every_volume_but_clone1_reads_as_in_lvsA()
    {
        LvolStoreImage dirty = LvsFixtures.Load("lvsA-dirty.img");
        LvolStoreImage clean = LvsFixtures.Load("lvsA.img");
        byte[] dirtyImage = LvsFixtures.Image("lvsA-dirty.img");
        byte[] cleanImage = LvsFixtures.Image("lvsA.img");
        await Assert.That(dirty.Store.Super.Clean).IsFalse();
        await Assert.That(dirty.Store.Replayed).IsTrue();
        await Assert.That(dirty.Name).IsEqualTo("lvsA");
        await Assert.That(dirty.Lvols.Select(l => l.Name).Order())
            .IsEquivalentTo(clean.Lvols.Select(l => l.Name).Order());
        foreach (LvolImage lv in dirty.Lvols.Where(l => l.Name != "clone1"))
        {
            LvolImage before = clean.Lvols.First(l => l.Name == lv.Name);
            await Assert.That(lv.Uuid).IsEqualTo(before.Uuid);
            byte[] a = LvsFixtures.ReadVolume(dirty, lv, dirtyImage);
            byte[] b = LvsFixtures.ReadVolume(clean, before, cleanImage);
            await Assert.That(SHA256.HashData(a).SequenceEqual(SHA256.HashData(b))).IsTrue().Because(lv.Name);
        }
    }

    [Test]
    public async Task Clone1_after_the_replay_holds_only_old_or_newly_written_blocks()
    {
        LvolStoreImage dirty = LvsFixtures.Load("lvsA-dirty.img");
        LvolStoreImage clean = LvsFixtures.Load("lvsA.img");
        byte[] now = LvsFixtures.ReadVolume(dirty, dirty.Lvols.First(l => l.Name == "clone1"),
            LvsFixtures.Image("lvsA-dirty.img"));
        byte[] old = LvsFixtures.ReadVolume(clean, clean.Lvols.First(l => l.Name == "clone1"),
            LvsFixtures.Image("lvsA.img"));
        byte[] written = LvsFixtures.Pattern("vol_thin", 9, 8 << 20);
        int fresh = 0, neither = 0;
        for (int off = 0; off < written.Length; off += 4096)
        {
            ReadOnlySpan<byte> block = now.AsSpan(off, 4096);
            if (block.SequenceEqual(written.AsSpan(off, 4096)))
            {
                fresh++;
            }
            else if (!block.SequenceEqual(old.AsSpan(off, 4096)))
            {
                neither++;
            }
        }
        await Assert.That(now.Length).IsEqualTo(old.Length);
        await Assert.That(neither).IsEqualTo(0);
        await Assert.That(fresh).IsEqualTo(1540); // what SPDK's own recovery read (MANIFEST)
        await Assert.That(now.AsSpan(8 << 20).SequenceEqual(old.AsSpan(8 << 20))).IsTrue();
    }

    [Test]
    [Arguments("lvsA.img")]
    [Arguments("lvsB.img")]
    [Arguments("pool0.img")]
    public async Task Replaying_a_clean_store_rebuilds_the_masks_it_has_on_disk(string image)
    {
        // clean = 0 written into a copy of the super block: the replay must find what the masks say.
        var img = new PatchedImage(image);
        int rcClean = BlobStoreImage.Load(img, out BlobStoreImage? clean, out string e1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(img.Head.AsSpan(16), 0);
        img.FixCrc(0);
        int rcReplay = BlobStoreImage.Load(img, out BlobStoreImage? replayed, out string e2);
        await Assert.That(rcClean).IsEqualTo(0).Because(e1);
        await Assert.That(rcReplay).IsEqualTo(0).Because(e2);
        await Assert.That(replayed!.Replayed).IsTrue();
        await Assert.That(Bits(replayed.UsedPages)).IsEquivalentTo(Bits(clean!.UsedPages));
        await Assert.That(Bits(replayed.UsedClusters)).IsEquivalentTo(Bits(clean.UsedClusters));
        await Assert.That(Bits(replayed.UsedBlobIds)).IsEquivalentTo(Bits(clean.UsedBlobIds));
        foreach (BlobRecord b in clean.Blobs.Values)
        {
            await Assert.That(replayed.Blobs[b.Id].Clusters).IsEquivalentTo(b.Clusters);
        }
    }

    [Test]
    public async Task The_dirty_store_masks_on_disk_are_stale_so_the_replay_is_what_finds_clone1s_clusters()
    {
        var img = new PatchedImage("lvsA-dirty.img");
        BlobSuperBlock s = BlobSuperBlock.Parse(img.Head.AsSpan(0, 4096), img.Length);
        BlobBitMask onDisk = BlobBitMask.Parse(
            img.Head.AsSpan((int)s.UsedClusterMaskStart * 4096, (int)s.UsedClusterMaskLength * 4096),
            BlobFormat.MaskUsedClusters, "used cluster", (long)s.TotalClusters, (long)s.TotalClusters);
        LvolStoreImage dirty = LvsFixtures.Load("lvsA-dirty.img");
        LvolImage clone1 = dirty.Lvols.First(l => l.Name == "clone1");
        int notOnDisk = clone1.Blob.Clusters.Count(c => c != 0 && !onDisk[c]);
        await Assert.That(notOnDisk).IsGreaterThan(0);
        await Assert.That(dirty.Store.UsedClusters.CountSet()).IsGreaterThan(onDisk.CountSet());
    }

    private static List<long> Bits(BlobBitMask m)
    {
        var set = new List<long>();
        for (long i = 0; i < m.Bits; i++)
        {
            if (m[i])
            {
                set.Add(i);
            }
        }
        return set;
    }
}
