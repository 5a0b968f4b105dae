using System.Buffers.Binary;
using System.Diagnostics;
using NativeBdev.Env;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Env;

/// <summary>CRC-32C against published check values, a byte-at-a-time reference over every
/// length and split (the three-lane path and the combine), and the metadata pages SPDK v25.09
/// wrote into the lvol store fixtures.</summary>
public class Crc32cTests
{
    // The bitwise definition: what every faster form must equal.
    private static uint Reference(ReadOnlySpan<byte> data, uint crc = ~0u)
    {
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
            }
        }
        return ~crc;
    }

    [Test]
    public async Task Check_values_of_the_standard_and_of_rfc3720()
    {
        await Assert.That(Crc32c.Compute("123456789"u8)).IsEqualTo(0xE3069283u);
        await Assert.That(Crc32c.Compute([])).IsEqualTo(0u);
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of ones, incrementing, decrementing.
        await Assert.That(Crc32c.Compute(new byte[32])).IsEqualTo(0x8A9136AAu);
        await Assert.That(Crc32c.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray())).IsEqualTo(0x62A8AB43u);
        await Assert.That(Crc32c.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()))
            .IsEqualTo(0x46DD794Eu);
        await Assert.That(Crc32c.Compute(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray()))
            .IsEqualTo(0x113FDB5Cu);
    }

    [Test]
    public async Task Every_length_and_alignment_matches_the_bitwise_definition()
    {
        var rng = new Random(7);
        byte[] buf = new byte[20000];
        rng.NextBytes(buf);
        int wrong = 0;
        foreach (int length in Enumerable.Range(0, 1100).Concat([2303, 2304, 2305, 4095, 4096, 4097, 8192, 12345,
                     19990]))
        {
            int offset = length % 7;
            ReadOnlySpan<byte> data = buf.AsSpan(offset, length);
            if (Crc32c.Compute(data) != Reference(data))
            {
                wrong++;
            }
        }
        await Assert.That(wrong).IsEqualTo(0);
    }

    [Test]
    public async Task Pieces_continue_the_register_and_combine_from_their_lengths()
    {
        var rng = new Random(11);
        byte[] buf = new byte[9000];
        rng.NextBytes(buf);
        int wrong = 0;
        foreach (int split in new[] { 0, 1, 7, 8, 767, 768, 769, 4096, 8999, 9000 })
        {
            ReadOnlySpan<byte> a = buf.AsSpan(0, split), b = buf.AsSpan(split);
            uint whole = Crc32c.Compute(buf);
            uint continued = ~Crc32c.Update(Crc32c.Update(~0u, a), b);
            uint combined = ~Crc32c.Combine(Crc32c.Update(~0u, a), Crc32c.Update(0, b), b.Length);
            wrong += (continued != whole ? 1 : 0) + (combined != whole ? 1 : 0);
        }
        await Assert.That(wrong).IsEqualTo(0);
    }

    [Test]
    public async Task Metadata_pages_spdk_wrote_carry_their_crc_at_4092()
    {
        // lvsB.img, a clean store SPDK v25.09 made: the super block (page 0) and every page of
        // the metadata region it wrote (REFERENCE.md: CRC-32C @4092 over bytes 0..4091; the
        // region is pages md_start @48 .. + md_len @52; a fresh store's unused pages are zero).
        byte[] head = FirstBytes(Path.Combine(Fixtures.Directory(), "lvs", "lvsB.img.xz"), 1 << 20);
        await Assert.That(head.AsSpan(0, 8).SequenceEqual("SPDKBLOB"u8)).IsTrue();
        int mdStart = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(48));
        int mdLength = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(52));
        var pages = new List<int> { 0 };
        for (int page = mdStart; page < mdStart + mdLength && (page + 1) * 4096 <= head.Length; page++)
        {
            if (head.AsSpan(page * 4096, 4096).ContainsAnyExcept((byte)0))
            {
                pages.Add(page);
            }
        }
        int wrong = pages.Count(page =>
        {
            ReadOnlySpan<byte> p = head.AsSpan(page * 4096, 4096);
            return Crc32c.Compute(p[..4092]) != BinaryPrimitives.ReadUInt32LittleEndian(p[4092..]);
        });
        await Assert.That(pages.Count).IsGreaterThanOrEqualTo(5); // the super block and the md pages in use
        await Assert.That(wrong).IsEqualTo(0);
    }

    private static byte[] FirstBytes(string xzPath, int count)
    {
        using var xz = Process.Start(new ProcessStartInfo("xz", ["-dc", xzPath])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        var buf = new byte[count];
        int got = 0;
        Stream s = xz.StandardOutput.BaseStream;
        while (got < count)
        {
            int n = s.Read(buf, got, count - got);
            if (n == 0)
            {
                break;
            }
            got += n;
        }
        xz.Kill();
        xz.WaitForExit();
        return buf[..got];
    }

    [Test]
    public async Task Alternating_lengths_allocate_nothing_and_stay_right()
    {
        // Lengths whose lanes differ (4 KiB and 128 KiB PDUs of two streams, odd ones): the
        // lane constants are cached without allocating, whatever the order.
        int[] lengths = [4096, 131072, 8192, 777, 65536, 4096 + 24, 131072];
        byte[] data = new byte[131072 + 24];
        new Random(11).NextBytes(data);
        uint[] expected = lengths.Select(n => Reference(data.AsSpan(0, n))).ToArray();
        foreach (int n in lengths)
        {
            Crc32c.Compute(data.AsSpan(0, n)); // warm: the JIT, not the cache
        }
        bool right = true;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 200; round++)
        {
            for (int k = 0; k < lengths.Length; k++)
            {
                right &= Crc32c.Compute(data.AsSpan(0, lengths[(k + round) % lengths.Length])) ==
                    expected[(k + round) % lengths.Length];
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await Assert.That(right).IsTrue();
        await Assert.That(allocated).IsEqualTo(0L);
    }
}
