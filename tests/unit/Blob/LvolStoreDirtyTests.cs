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
}
