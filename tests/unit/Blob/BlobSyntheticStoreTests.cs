using System.Buffers.Binary;
using System.Text;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Tests.Blob;

/// <summary>A small store built byte by byte in the test: the EXTENT_RLE form of the cluster map
/// (the fixtures' SPDK writes extent tables), a two-page chain, and a thin run, on a byte array.</summary>
public class BlobSyntheticStoreTests
{
    private const int Page = 4096;
    private const int MdStart = 4;
    private const int MdLength = 16;

    private static byte[] Build(bool clean)
    {
        var dev = new byte[16 << 20]; // 16 clusters of 1 MiB
        Span<byte> sb = dev.AsSpan(0, Page);
        "SPDKBLOB"u8.CopyTo(sb);
        U32(sb, 8, 3);
        U32(sb, 12, Page);
        U32(sb, 16, clean ? 1u : 0u);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[20..], BlobFormat.PageToBlobId(0));
        U32(sb, 28, 1 << 20);
        U32(sb, 32, 1);
        U32(sb, 36, 1);   // used pages mask
        U32(sb, 40, 2);
        U32(sb, 44, 1);   // used clusters mask
        U32(sb, 48, MdStart);
        U32(sb, 52, MdLength);
        "LVOLSTORE"u8.CopyTo(sb[56..]);
        U32(sb, 72, 3);
        U32(sb, 76, 1);   // used blob ids mask
        BinaryPrimitives.WriteUInt64LittleEndian(sb[80..], (ulong)dev.Length);
        U32(sb, 88, 512);
        Crc(sb);
        Mask(dev, 1, BlobFormat.MaskUsedPages, MdLength, [0, 1, 2, 5]);
        Mask(dev, 2, BlobFormat.MaskUsedClusters, 16, [0, 3, 4, 8, 10]);
        Mask(dev, 3, BlobFormat.MaskUsedBlobIds, MdLength, [0, 1, 2]);
        MdPage(dev, 0, BlobFormat.PageToBlobId(0), 0, BlobFormat.InvalidPage,
            Flags(0), Xattr(2, "name", "lvsS"), Xattr(2, "uuid", "uuid-of-store"));
        MdPage(dev, 1, BlobFormat.PageToBlobId(1), 0, BlobFormat.InvalidPage,
            Flags(0), Xattr(2, "name", "thick"), Xattr(2, "uuid", "uuid-thick"), Rle((3, 2), (8, 1)));
        MdPage(dev, 2, BlobFormat.PageToBlobId(2), 0, 5,
            Flags(BlobFormat.ThinProvisioned), Xattr(2, "name", "thin"), Xattr(2, "uuid", "uuid-thin"));
        MdPage(dev, 5, BlobFormat.PageToBlobId(2), 1, BlobFormat.InvalidPage, Rle((0, 2), (10, 1)));
        return dev;
    }

    [Test]
    [Arguments(true)]
    [Arguments(false)]
    public async Task Extent_rle_maps_and_a_two_page_chain_are_read_clean_and_replayed(bool clean)
    {
        int rc = LvolStoreImage.Load(new BlobByteDevice(Build(clean)), out LvolStoreImage? lvs, out string error);
        await Assert.That(rc).IsEqualTo(0).Because(error);
        await Assert.That(lvs!.Store.Replayed).IsEqualTo(!clean);
        await Assert.That(lvs.Name).IsEqualTo("lvsS");
        await Assert.That(lvs.Uuid).IsEqualTo("uuid-of-store");
        LvolImage thick = lvs.Lvols.First(l => l.Name == "thick");
        LvolImage thin = lvs.Lvols.First(l => l.Name == "thin");
        await Assert.That(thick.Blob.Clusters).IsEquivalentTo(new uint[] { 3, 4, 8 });
        await Assert.That(thick.IsThin).IsFalse();
        await Assert.That(thin.Blob.Clusters).IsEquivalentTo(new uint[] { 0, 0, 10 });
        await Assert.That(thin.Blob.Pages).IsEquivalentTo(new uint[] { 2, 5 });
        await Assert.That(thin.IsThin).IsTrue();
        await Assert.That(thin.SizeBytes).IsEqualTo(3UL << 20);
        await Assert.That(lvs.Store.FreeClusters).IsEqualTo(11L);
    }

    [Test]
    public async Task An_unallocated_run_in_a_thick_blob_is_an_error()
    {
        byte[] dev = Build(clean: true);
        MdPage(dev, 1, BlobFormat.PageToBlobId(1), 0, BlobFormat.InvalidPage,
            Flags(0), Xattr(2, "name", "thick"), Xattr(2, "uuid", "uuid-thick"), Rle((0, 1)));
        int rc = LvolStoreImage.Load(new BlobByteDevice(dev), out _, out string error);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("unallocated in a blob that is not thin");
    }

    [Test]
    public async Task A_cluster_the_mask_does_not_mark_is_an_error()
    {
        byte[] dev = Build(clean: true);
        Mask(dev, 2, BlobFormat.MaskUsedClusters, 16, [0, 3, 4, 10]); // 8 missing
        int rc = LvolStoreImage.Load(new BlobByteDevice(dev), out _, out string error);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("cluster 8 is not marked");
    }

    [Test]
    public async Task A_chain_page_out_of_sequence_is_an_error()
    {
        byte[] dev = Build(clean: true);
        MdPage(dev, 5, BlobFormat.PageToBlobId(2), 7, BlobFormat.InvalidPage, Rle((0, 2), (10, 1)));
        int rc = LvolStoreImage.Load(new BlobByteDevice(dev), out _, out string error);
        await Assert.That(rc).IsEqualTo(-Errno.EILSEQ);
        await Assert.That(error).Contains("sequence 7, expected 1");
    }

    private static void U32(Span<byte> p, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(p[at..], v);

    private static void Crc(Span<byte> page) => U32(page, 4092, Crc32c.Compute(page[..4092]));

    private static void Mask(byte[] dev, int page, byte type, uint bits, int[] set)
    {
        Span<byte> p = dev.AsSpan(page * Page, Page);
        p.Clear();
        p[0] = type;
        U32(p, 1, bits);
        foreach (int i in set)
        {
            p[5 + (i / 8)] |= (byte)(1 << (i % 8));
        }
    }

    private static void MdPage(byte[] dev, int index, ulong id, uint sequence, uint next, params byte[][] descriptors)
    {
        Span<byte> p = dev.AsSpan((MdStart + index) * Page, Page);
        p.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(p, id);
        U32(p, 8, sequence);
        int at = 16;
        foreach (byte[] d in descriptors)
        {
            d.CopyTo(p[at..]);
            at += d.Length;
        }
        U32(p, 4088, next);
        Crc(p);
    }

    private static byte[] Descriptor(byte type, byte[] body)
    {
        var d = new byte[5 + body.Length];
        d[0] = type;
        U32(d, 1, (uint)body.Length);
        body.CopyTo(d, 5);
        return d;
    }

    private static byte[] Flags(ulong invalid)
    {
        var body = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(body, invalid);
        return Descriptor(BlobFormat.DescFlags, body);
    }

    private static byte[] Xattr(byte type, string name, string value)
    {
        byte[] n = Encoding.ASCII.GetBytes(name);
        byte[] v = Encoding.ASCII.GetBytes(value + "\0");
        var body = new byte[4 + n.Length + v.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)n.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(2), (ushort)v.Length);
        n.CopyTo(body, 4);
        v.CopyTo(body, 4 + n.Length);
        return Descriptor(type, body);
    }

    private static byte[] Rle(params (uint First, uint Run)[] runs)
    {
        var body = new byte[8 * runs.Length];
        for (int i = 0; i < runs.Length; i++)
        {
            U32(body, 8 * i, runs[i].First);
            U32(body, (8 * i) + 4, runs[i].Run);
        }
        return Descriptor(BlobFormat.DescExtentRle, body);
    }
}
