using System.Buffers.Binary;
using System.Text;
using NativeBdev.Blob;
using NativeBdev.Modules.Lvol;
using NativeBdev.Tests.Blob;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>The offline checker on copies of the stores SPDK made: each clean store has no finding;
/// each class of damage, made on purpose in a copy, is found and named by its class.</summary>
public class LvolCheckerTests
{
    public static IEnumerable<string> Images()
    {
        foreach (string s in new[] { "lvsA.img", "lvsA-dirty.img", "lvsB.img", "pool0.img" })
        {
            if (LvsFixtures.Has(s))
            {
                yield return s;
            }
        }
    }

    private static string Describe(LvolCheckReport r) =>
        string.Join("\n", r.Findings.Select(f => f.Kind + ": " + f.Message));

    private static async Task<LvolCheckReport> Finds(PatchedImage img, string kind)
    {
        LvolCheckReport r = LvolStoreChecker.Check(img);
        await Assert.That(r.Findings.Select(f => f.Kind)).Contains(kind).Because(Describe(r));
        return r;
    }

    private static BlobRecord Blob(string image, string volume) =>
        LvsFixtures.Load(image).Lvols.First(l => l.Name == volume).Blob;

    private static BlobSuperBlock Super(PatchedImage img) => BlobSuperBlock.Parse(img.Head.AsSpan(0, 4096), img.Length);

    private static void FlipMaskBit(PatchedImage img, uint maskStart, long bit)
    {
        img.Head[((int)maskStart * 4096) + BlobFormat.MaskHeader + (int)(bit / 8)] ^= (byte)(1 << (int)(bit % 8));
    }

    /// <summary>The offset in a page of the first descriptor of <paramref name="type"/>.</summary>
    private static int Descriptor(Span<byte> page, byte type)
    {
        for (int cur = BlobFormat.DescriptorsOffset; cur + 5 <= BlobFormat.PageNextOffset;)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(page[(cur + 1)..]);
            if (page[cur] == type)
            {
                return cur;
            }
            if (page[cur] == 0 && length == 0)
            {
                break;
            }
            cur += 5 + (int)length;
        }
        throw new InvalidOperationException($"no descriptor of type {type}");
    }

    /// <summary>Points logical cluster 0 of <paramref name="blob"/> at device cluster <paramref name="c"/>.</summary>
    private static void SetFirstCluster(PatchedImage img, BlobRecord blob, uint c)
    {
        if (blob.UsesExtentTable)
        {
            uint ep = blob.ExtentPages[0];
            BinaryPrimitives.WriteUInt32LittleEndian(img.MdPage(ep)[(BlobFormat.DescriptorsOffset + 5 + 4)..], c);
            img.FixMdCrc(ep);
            return;
        }
        uint first = blob.Pages[0];
        int d = Descriptor(img.MdPage(first), BlobFormat.DescExtentRle);
        BinaryPrimitives.WriteUInt32LittleEndian(img.MdPage(first)[(d + 5)..], c);
        img.FixMdCrc(first);
    }

    /// <summary>The offset of an xattr's value in the blob's first page (XATTR or XATTR_INTERNAL).</summary>
    private static int XattrValue(Span<byte> page, string name)
    {
        byte[] n = Encoding.ASCII.GetBytes(name);
        for (int cur = BlobFormat.DescriptorsOffset; cur + 9 <= BlobFormat.PageNextOffset;)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(page[(cur + 1)..]);
            if ((page[cur] == BlobFormat.DescXattr || page[cur] == BlobFormat.DescXattrInternal) &&
                BinaryPrimitives.ReadUInt16LittleEndian(page[(cur + 5)..]) == n.Length &&
                page.Slice(cur + 9, n.Length).SequenceEqual(n))
            {
                return cur + 9 + n.Length;
            }
            if (page[cur] == 0 && length == 0)
            {
                break;
            }
            cur += 5 + (int)length;
        }
        throw new InvalidOperationException($"no xattr {name}");
    }

    [Test]
    [MethodDataSource(nameof(Images))]
    public async Task An_unmodified_copy_has_no_finding(string image)
    {
        LvolStoreImage lvs = LvsFixtures.Load(image);
        LvolCheckReport r = LvolStoreChecker.Check(new PatchedImage(image));
        await Assert.That(r.Findings.Count).IsEqualTo(0).Because(Describe(r));
        await Assert.That(r.Clean).IsEqualTo(!image.Contains("dirty"));
        await Assert.That(r.Blobs).IsEqualTo(lvs.Lvols.Count + 1);
        await Assert.That(r.Clusters - r.OwnedClusters).IsEqualTo(lvs.Store.FreeClusters);
    }

    [Test]
    public async Task A_bad_super_block_crc_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        img.Head[200] ^= 1;
        await Finds(img, LvolCheckKind.SuperBlockCrc);
    }

    [Test]
    public async Task A_device_without_a_blobstore_is_a_super_block_finding()
    {
        var img = new PatchedImage("lvsB.img");
        img.Head[0] = (byte)'X';
        await Finds(img, LvolCheckKind.SuperBlock);
    }

    [Test]
    public async Task Another_blobstore_type_is_named()
    {
        var img = new PatchedImage("lvsB.img");
        Encoding.ASCII.GetBytes("BLOBFS\0\0\0\0").CopyTo(img.Head, 56);
        img.FixCrc(0);
        await Finds(img, LvolCheckKind.StoreType);
    }

    [Test]
    public async Task A_bad_metadata_page_crc_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        img.MdPage(Blob("lvsA.img", "vol_thick").Pages[0])[100] ^= 1;
        LvolCheckReport r = await Finds(img, LvolCheckKind.PageCrc);
        // the other volumes still load and are checked
        await Assert.That(r.Blobs).IsEqualTo(LvsFixtures.Load("lvsA.img").Lvols.Count);
    }

    [Test]
    public async Task A_bad_extent_page_crc_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        BlobRecord b = Blob("lvsA.img", "vol_thick");
        await Assert.That(b.ExtentPages.Length).IsGreaterThan(0);
        img.MdPage(b.ExtentPages[0])[40] ^= 1;
        await Finds(img, LvolCheckKind.PageCrc);
    }

    [Test]
    public async Task An_extent_page_with_a_wrong_descriptor_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        uint ep = Blob("lvsA.img", "vol_thick").ExtentPages[0];
        img.MdPage(ep)[BlobFormat.DescriptorsOffset] = BlobFormat.DescXattr;
        img.FixMdCrc(ep);
        await Finds(img, LvolCheckKind.ExtentPage);
    }

    [Test]
    public async Task A_chain_that_loops_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        uint page = Blob("lvsA.img", "vol_thick").Pages[^1];
        BinaryPrimitives.WriteUInt32LittleEndian(img.MdPage(page)[BlobFormat.PageNextOffset..], page);
        img.FixMdCrc(page);
        await Finds(img, LvolCheckKind.PageChain);
    }

    [Test]
    public async Task A_used_page_missing_from_the_page_mask_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        FlipMaskBit(img, Super(img).UsedPageMaskStart, Blob("lvsA.img", "clone1").Pages[0]);
        await Finds(img, LvolCheckKind.PageNotMarked);
    }

    [Test]
    public async Task A_marked_page_no_blob_uses_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        uint free = img.MdLength - 1;
        await Assert.That(LvsFixtures.Load("lvsA.img").Store.UsedPages[free]).IsFalse();
        FlipMaskBit(img, Super(img).UsedPageMaskStart, free);
        await Finds(img, LvolCheckKind.PageLeaked);
    }

    [Test]
    public async Task An_owned_cluster_missing_from_the_cluster_mask_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        FlipMaskBit(img, Super(img).UsedClusterMaskStart, Blob("lvsA.img", "vol_thick").Clusters[3]);
        await Finds(img, LvolCheckKind.ClusterNotMarked);
    }

    [Test]
    public async Task A_marked_cluster_no_blob_holds_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        BlobSuperBlock s = Super(img);
        long free = (long)s.TotalClusters - 1;
        await Assert.That(LvsFixtures.Load("lvsA.img").Store.UsedClusters[free]).IsFalse();
        FlipMaskBit(img, s.UsedClusterMaskStart, free);
        LvolCheckReport r = await Finds(img, LvolCheckKind.ClusterLeaked);
        await Assert.That(r.Findings.Count).IsEqualTo(1).Because(Describe(r));
        await Assert.That(r.Findings[0].Message).Contains($"cluster {free} ");
    }

    [Test]
    public async Task A_cluster_owned_by_two_volumes_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        BlobRecord snap = Blob("lvsA.img", "snap1");
        SetFirstCluster(img, Blob("lvsA.img", "vol_thick"), snap.Clusters[0]);
        LvolCheckReport r = await Finds(img, LvolCheckKind.ClusterOwnedTwice);
        await Assert.That(r.Findings.First(f => f.Kind == LvolCheckKind.ClusterOwnedTwice).Message)
            .Contains($"0x{snap.Id:x}");
    }

    [Test]
    public async Task A_thick_volume_with_an_unallocated_cluster_is_a_metadata_finding()
    {
        var img = new PatchedImage("lvsB.img");
        SetFirstCluster(img, Blob("lvsB.img", "small_thick"), 0);
        LvolCheckReport r = await Finds(img, LvolCheckKind.BlobMetadata);
        await Assert.That(r.Findings.First(f => f.Kind == LvolCheckKind.BlobMetadata).Message).Contains("not thin");
    }

    [Test]
    public async Task A_blob_the_id_mask_forgets_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        FlipMaskBit(img, Super(img).UsedBlobIdMaskStart, Blob("lvsA.img", "clone1").Pages[0]);
        await Finds(img, LvolCheckKind.BlobIdNotMarked);
    }

    [Test]
    public async Task An_id_marked_for_a_blank_page_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        FlipMaskBit(img, Super(img).UsedBlobIdMaskStart, img.MdLength - 1);
        await Finds(img, LvolCheckKind.BlobIdStale);
    }

    [Test]
    public async Task Unknown_invalid_flags_are_a_metadata_finding()
    {
        var img = new PatchedImage("lvsA.img");
        uint first = Blob("lvsA.img", "clone1").Pages[0];
        int d = Descriptor(img.MdPage(first), BlobFormat.DescFlags);
        img.MdPage(first)[d + 5 + 5] |= 0x80; // invalid_flags bit 47
        img.FixMdCrc(first);
        await Finds(img, LvolCheckKind.BlobMetadata);
    }

    [Test]
    public async Task A_clone_of_a_blob_that_is_not_there_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        uint first = Blob("lvsA.img", "clone1").Pages[0];
        int v = XattrValue(img.MdPage(first), "SNAP");
        BinaryPrimitives.WriteUInt64LittleEndian(img.MdPage(first)[v..], BlobFormat.PageToBlobId(img.MdLength - 1));
        img.FixMdCrc(first);
        await Finds(img, LvolCheckKind.ParentMissing);
    }

    [Test]
    public async Task A_parent_chain_that_loops_is_named()
    {
        var img = new PatchedImage("lvsA.img");
        BlobRecord thin = Blob("lvsA.img", "vol_thin");
        int v = XattrValue(img.MdPage(thin.Pages[0]), "SNAP");
        BinaryPrimitives.WriteUInt64LittleEndian(img.MdPage(thin.Pages[0])[v..], thin.Id);
        img.FixMdCrc(thin.Pages[0]);
        LvolCheckReport r = await Finds(img, LvolCheckKind.ParentCycle);
        await Assert.That(r.Findings.Select(f => f.Kind)).Contains(LvolCheckKind.ParentWritable);
    }

    [Test]
    public async Task A_volume_without_a_name_is_named()
    {
        var img = new PatchedImage("lvsB.img");
        uint first = Blob("lvsB.img", "small_thin").Pages[0];
        int v = XattrValue(img.MdPage(first), "name");
        img.MdPage(first)[v - 4] = (byte)'N'; // the xattr is now "Name"
        img.FixMdCrc(first);
        await Finds(img, LvolCheckKind.LvolXattr);
    }

    [Test]
    public async Task Two_volumes_of_one_name_are_named()
    {
        var img = new PatchedImage("lvsB.img");
        uint first = Blob("lvsB.img", "small_thin").Pages[0];
        int v = XattrValue(img.MdPage(first), "name");
        Encoding.ASCII.GetBytes("small_thick\0").CopyTo(img.MdPage(first)[v..]);
        img.FixMdCrc(first);
        await Finds(img, LvolCheckKind.LvolNameTwice);
    }

    [Test]
    public async Task A_mask_of_the_wrong_type_is_named_and_the_rest_still_checked()
    {
        var img = new PatchedImage("lvsB.img");
        BlobSuperBlock s = Super(img);
        img.Head[(int)s.UsedClusterMaskStart * 4096] = 7;
        FlipMaskBit(img, s.UsedPageMaskStart, img.MdLength - 1);
        LvolCheckReport r = await Finds(img, LvolCheckKind.MaskFormat);
        await Assert.That(r.Findings.Select(f => f.Kind)).Contains(LvolCheckKind.PageLeaked);
    }

    [Test]
    public async Task A_dirty_store_whose_replay_fails_is_named()
    {
        var img = new PatchedImage("lvsA-dirty.img");
        uint page = Blob("lvsA-dirty.img", "vol_thick").Pages[^1];
        BinaryPrimitives.WriteUInt32LittleEndian(img.MdPage(page)[BlobFormat.PageNextOffset..], page);
        img.FixMdCrc(page);
        LvolCheckReport r = await Finds(img, LvolCheckKind.Replay);
        await Assert.That(r.Findings.Select(f => f.Kind)).Contains(LvolCheckKind.PageChain);
    }
}
