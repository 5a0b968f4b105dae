using System.Buffers.Binary;
using NativeBdev.Blob;
using NativeBdev.Interop;

namespace NativeBdev.Tests.Blob;

/// <summary>Malformed metadata, made by corrupting a real SPDK store: each is an errno and a message
/// that names the fault; nothing throws and nothing hangs.</summary>
public class BlobMalformedTests
{
    private static (int Rc, string Error) Load(IBlobDevice d)
    {
        int rc = LvolStoreImage.Load(d, out LvolStoreImage? lvs, out string error);
        return (rc, rc == 0 ? (lvs is null ? "null store" : "") : error);
    }

    private static uint FirstPageOf(PatchedImage img, string volume)
    {
        for (uint i = 0; i < img.MdLength; i++)
        {
            Span<byte> p = img.MdPage(i);
            if (BinaryPrimitives.ReadUInt32LittleEndian(p[8..]) == 0 &&
                BinaryPrimitives.ReadUInt64LittleEndian(p) == BlobFormat.PageToBlobId(i) &&
                System.Text.Encoding.ASCII.GetString(p[16..4088]).Contains(volume + "\0"))
            {
                return i;
            }
        }
        throw new InvalidOperationException(volume + " not found");
    }

    [Test]
    public async Task The_unmodified_copy_loads()
    {
        var img = new PatchedImage("lvsA.img");
        await Assert.That(Load(img).Rc).IsEqualTo(0);
    }

    [Test]
    [Arguments(0L)]
    [Arguments(100L)]
    [Arguments(4096L)]
    [Arguments(40960L)]
    [Arguments(1L << 20)]
    public async Task A_truncated_device_is_an_error(long length)
    {
        var img = new PatchedImage("lvsA.img") { Length = length };
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsLessThan(0);
        await Assert.That(error).IsNotEmpty();
    }

    [Test]
    public async Task A_bad_super_block_crc_is_eilseq()
    {
        var img = new PatchedImage("lvsA.img");
        img.Head[200] ^= 1;
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("CRC");
    }

    [Test]
    [Arguments(0u)]
    [Arguments(4u)]
    public async Task A_version_outside_1_to_3_is_refused(uint version)
    {
        var img = new PatchedImage("lvsA.img");
        BinaryPrimitives.WriteUInt32LittleEndian(img.Head.AsSpan(8), version);
        img.FixCrc(0);
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains($"version {version}");
    }

    [Test]
    public async Task Versions_1_and_2_are_read()
    {
        var img = new PatchedImage("lvsB.img");
        BinaryPrimitives.WriteUInt32LittleEndian(img.Head.AsSpan(8), 2);
        img.FixCrc(0);
        await Assert.That(Load(img).Rc).IsEqualTo(0);
    }

    [Test]
    public async Task A_bad_metadata_page_crc_names_the_blob_and_page()
    {
        var img = new PatchedImage("lvsA.img");
        uint page = FirstPageOf(img, "vol_thick");
        img.MdPage(page)[300] ^= 0x40;
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains($"page {page}");
        await Assert.That(error).Contains("CRC");
    }

    [Test]
    public async Task A_descriptor_longer_than_its_page_is_an_error()
    {
        var img = new PatchedImage("lvsA.img");
        uint page = FirstPageOf(img, "vol_thick");
        BinaryPrimitives.WriteUInt32LittleEndian(img.MdPage(page)[17..], 5000); // the first descriptor's length
        img.FixMdCrc(page);
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("past the end of the page");
    }

    [Test]
    public async Task A_next_chain_that_loops_is_an_error_not_a_hang()
    {
        var img = new PatchedImage("lvsA.img");
        uint page = FirstPageOf(img, "vol_thick");
        BinaryPrimitives.WriteUInt32LittleEndian(img.MdPage(page)[4088..], page);
        img.FixMdCrc(page);
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("loops");
    }

    [Test]
    public async Task A_loop_in_a_dirty_store_is_an_error_of_the_replay()
    {
        var img = new PatchedImage("lvsA-dirty.img");
        uint page = FirstPageOf(img, "vol_thick");
        BinaryPrimitives.WriteUInt32LittleEndian(img.MdPage(page)[4088..], page);
        img.FixMdCrc(page);
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("replay");
        await Assert.That(error).Contains("loops");
    }

    [Test]
    public async Task A_cluster_beyond_the_device_is_an_error()
    {
        var img = new PatchedImage("lvsA.img");
        ulong id = BlobFormat.PageToBlobId(FirstPageOf(img, "vol_thick"));
        int patched = 0;
        for (uint i = 0; i < img.MdLength; i++)
        {
            Span<byte> p = img.MdPage(i);
            // an extent page of vol_thick: id is the blob's, one EXTENT_PAGE descriptor first
            if (BinaryPrimitives.ReadUInt64LittleEndian(p) == id && p[16] == BlobFormat.DescExtentPage &&
                BlobFormat.CrcHolds(p))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(p[(16 + 5 + 4)..], 1_000_000); // cluster_idx[0]
                img.FixMdCrc(i);
                patched++;
            }
        }
        (int rc, string error) = Load(img);
        await Assert.That(patched).IsGreaterThan(0);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("cluster 1000000 is beyond the device");
    }

    [Test]
    public async Task A_wrong_mask_type_is_an_error()
    {
        var img = new PatchedImage("lvsB.img");
        var s = BlobSuperBlock.Parse(img.Head.AsSpan(0, 4096), img.Length);
        img.Head[(int)s.UsedClusterMaskStart * 4096] = 7;
        (int rc, string error) = Load(img);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("used cluster mask: type 7");
    }

    [Test]
    [Arguments("lvsA.img", 1)]
    [Arguments("lvsA-dirty.img", 2)]
    [Arguments("lvsB.img", 3)]
    public async Task Random_corruption_of_real_pages_gives_success_or_a_clean_error(string image, int seed)
    {
        // Deterministic: flip bytes of the super block, mask and metadata pages (half the time fixing the
        // CRC so the descriptors themselves get parsed) or truncate; every load must answer.
        var img = new PatchedImage(image);
        var rnd = new Random(seed);
        int failures = 0, successes = 0;
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        for (int iteration = 0; iteration < 1500 && stopwatch.Elapsed < TimeSpan.FromSeconds(20); iteration++)
        {
            img.Reset();
            if (rnd.Next(10) == 0)
            {
                img.Length = rnd.NextInt64(img.Head.Length + 4096);
            }
            else
            {
                int pageOffset = rnd.Next(3) == 0 ? 0 : (int)(img.MdStart + (uint)rnd.Next((int)img.MdLength)) * 4096;
                if (rnd.Next(4) == 0)
                {
                    pageOffset = rnd.Next(img.Head.Length / 4096) * 4096; // masks too
                }
                for (int k = rnd.Next(1, 4); k > 0; k--)
                {
                    // mostly in the headers and the first descriptors, where the structure is
                    int at = rnd.Next(2) == 0 ? rnd.Next(128) : rnd.Next(4096);
                    img.Head[pageOffset + at] ^= (byte)rnd.Next(1, 256);
                }
                if (rnd.Next(2) == 0)
                {
                    img.FixCrc(pageOffset);
                }
            }
            (int rc, string error) = Load(img); // an exception here fails the test
            if (rc == 0)
            {
                successes++;
            }
            else if (rc < 0 && error.Length > 0)
            {
                failures++;
            }
            else
            {
                throw new InvalidOperationException($"iteration {iteration}: rc {rc} with message \"{error}\"");
            }
        }
        await Assert.That(failures).IsGreaterThan(0);
        await Assert.That(successes).IsGreaterThan(0);
    }
}
