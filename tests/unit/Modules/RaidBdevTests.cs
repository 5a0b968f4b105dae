using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Error;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Modules;

/// <summary>raid0:// and concat://: SPDK's block counts, data where an independent mapping says
/// it lives on each base (single-buffer and vectored I/O across strips and bases), range
/// operations, failures of one base reaching the host, creation errors, and the raid going with
/// a base.</summary>
[NotInParallel(Keys.Threads)]
public class RaidBdevTests
{
    private const int Bs = 512;

    private static (int Rc, string? Name, string Message) CreateOn(LightweightThread t, string uri) =>
        Bdevs.Bound(t, () => Bdevs.TryCreate(uri));

    /// <summary>Where raid block <paramref name="lba"/> lives, computed from SPDK's definitions.</summary>
    private static (int Disk, long Lba) Locate(string level, long lba, long stripBlocks, long[] baseBlocks)
    {
        if (level == "raid0")
        {
            long strip = lba / stripBlocks;
            return ((int)(strip % baseBlocks.Length), strip / baseBlocks.Length * stripBlocks + lba % stripBlocks);
        }
        for (int d = 0; d < baseBlocks.Length; d++)
        {
            long len = baseBlocks[d] / stripBlocks * stripBlocks;
            if (lba < len)
            {
                return (d, lba);
            }
            lba -= len;
        }
        throw new ArgumentOutOfRangeException(nameof(lba));
    }

    private static byte[] ReadAll(BdevSession s, long blocks)
    {
        using var b = new DmaBuffer((int)blocks * Bs);
        int rc = s.Run(BdevIoType.Read, b.Pointer, 0, (ulong)blocks);
        if (rc != 0)
        {
            throw new InvalidOperationException($"read of {s.Bdev.Name}: {rc}");
        }
        return b.ToArray();
    }

    /// <summary>Every raid block's bytes, from the raid and from where the mapping puts it on the
    /// bases, against the reference.</summary>
    private static int Mismatches(string level, byte[] reference, BdevSession raid, BdevSession[] bases,
        long stripBlocks, long[] baseBlocks)
    {
        byte[] viaRaid = ReadAll(raid, reference.Length / Bs);
        byte[][] viaBases = bases.Select((s, i) => ReadAll(s, baseBlocks[i])).ToArray();
        int bad = 0;
        for (long lba = 0; lba < reference.Length / Bs; lba++)
        {
            var want = reference.AsSpan((int)lba * Bs, Bs);
            (int d, long at) = Locate(level, lba, stripBlocks, baseBlocks);
            if (!want.SequenceEqual(viaRaid.AsSpan((int)lba * Bs, Bs)) ||
                !want.SequenceEqual(viaBases[d].AsSpan((int)at * Bs, Bs)))
            {
                bad++;
            }
        }
        return bad;
    }

    [Test]
    [Arguments("raid0")]
    [Arguments("concat")]
    public async Task Data_lands_where_the_level_puts_it_and_reads_back_across_strips(string level)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("raid-map-" + level);
        long[] baseBlocks = [2050, 1030, 1500]; // not whole strips: SPDK rounds each down
        string[] bases = baseBlocks.Select(n => Bdevs.Malloc("rb", $"num_blocks={n}&blk_size={Bs}")).ToArray();
        string name = Bdevs.Unique(level);
        const long strip = 16; // 8 KiB
        var created = CreateOn(t, $"{level}:///{name}?strip_size_kb=8&base_bdevs={string.Join(",", bases)}");
        BlockDevice raid = Bdevs.Find(name);
        long expectedBlocks = level == "raid0" ? 1024 * 3 : 2048 + 1024 + 1488;
        BdevSession s = BdevSession.Open(t, name);
        BdevSession[] viaBases = bases.Select(b => BdevSession.Open(t, b, write: false)).ToArray();
        var reference = new byte[expectedBlocks * Bs];
        int failed = 0;
        // Single buffers: one inside a strip, one across many strips and (concat) a base boundary.
        var singles = new[] { (3L, 5, 1), (1000L, 1100, 2), (expectedBlocks - 40, 40, 3) };
        foreach ((long at, int blocks, int seed) in singles)
        {
            using var w = new DmaBuffer(blocks * Bs).Fill(seed);
            failed += s.Run(BdevIoType.Write, w.Pointer, (ulong)at, (ulong)blocks) == 0 ? 0 : 1;
            w.Span.CopyTo(reference.AsSpan((int)at * Bs));
        }
        // Vectored: 20 entries, blocks split across entries, more than one batch of iovec room.
        int[] lengths = Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? 1000 : 1048).ToArray();
        int vBytes = lengths.Sum(); // 20240 = 40 blocks... rounded below
        using (var w = new DmaBuffer(vBytes).Fill(seed: 4))
        using (var iovs = new IovArray(w.Pointer, lengths))
        {
            int blocks = vBytes / Bs;
            failed += s.RunV(BdevIoType.Write, iovs, 2040, (ulong)blocks) == 0 ? 0 : 1;
            w.Span[..(blocks * Bs)].CopyTo(reference.AsSpan(2040 * Bs));
        }
        int mismatches = Mismatches(level, reference, s, viaBases, strip, baseBlocks);
        using var r = new DmaBuffer(1100 * Bs);
        using var riovs = new IovArray(r.Pointer, Enumerable.Repeat(1100 * Bs / 25, 25).ToArray());
        int readV = s.RunV(BdevIoType.Read, riovs, 1000, 1100);
        bool readVSame = r.Span.SequenceEqual(reference.AsSpan(1000 * Bs, 1100 * Bs));
        s.Close();
        foreach (BdevSession b in viaBases)
        {
            b.Close();
        }
        Bdevs.DestroyAndWait(name, t);
        bool released = bases.All(b => Bdevs.Find(b).ClaimedBy == null);
        foreach (string b in bases)
        {
            Bdevs.DestroyAndWait(b, t);
        }

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That((long)raid.BlockCount).IsEqualTo(expectedBlocks);
        await Assert.That(raid.ProductName).IsEqualTo("Raid Volume");
        await Assert.That(raid.OptimalIoBoundary).IsEqualTo(16u);
        await Assert.That(failed).IsEqualTo(0);
        await Assert.That(mismatches).IsEqualTo(0);
        await Assert.That(readV).IsEqualTo(0);
        await Assert.That(readVSame).IsTrue();
        await Assert.That(released).IsTrue();
    }

    [Test]
    [Arguments("raid0")]
    [Arguments("concat")]
    public async Task Write_zeroes_unmap_flush_and_reset_reach_every_base_that_holds_the_range(string level)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("raid-range-" + level);
        long[] baseBlocks = [1024, 1024];
        string[] bases = baseBlocks.Select(n => Bdevs.Malloc("rr", $"num_blocks={n}&blk_size={Bs}")).ToArray();
        string name = Bdevs.Unique(level);
        var created = CreateOn(t, $"{level}:///{name}?strip_size_kb=4&base_bdevs={string.Join(",", bases)}");
        BdevSession s = BdevSession.Open(t, name);
        BdevSession[] viaBases = bases.Select(b => BdevSession.Open(t, b, write: false)).ToArray();
        var reference = new byte[2048 * Bs];
        using (var w = new DmaBuffer(2048 * Bs).Fill(seed: 9))
        {
            s.Run(BdevIoType.Write, w.Pointer, 0, 2048);
            w.Span.CopyTo(reference);
        }
        int zeroes = s.Run(BdevIoType.WriteZeroes, 0, 5, 100); // across strips, both bases
        reference.AsSpan(5 * Bs, 100 * Bs).Clear();
        int unmap = s.Run(BdevIoType.Unmap, 0, 1000, 60); // concat: across the base boundary
        reference.AsSpan(1000 * Bs, 60 * Bs).Clear(); // malloc's unmap zeroes
        int unmapOne = s.Run(BdevIoType.Unmap, 0, 2040, 3); // one base only
        reference.AsSpan(2040 * Bs, 3 * Bs).Clear();
        int flush = s.Run(BdevIoType.Flush, 0, 0, 2048);
        int reset = s.Run(BdevIoType.Reset, 0, 0, 0);
        int mismatches = Mismatches(level, reference, s, viaBases, 8, baseBlocks);
        s.Close();
        foreach (BdevSession b in viaBases)
        {
            b.Close();
        }
        Bdevs.DestroyAndWait(name, t);
        foreach (string b in bases)
        {
            Bdevs.DestroyAndWait(b, t);
        }

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(zeroes + unmap + unmapOne + flush + reset).IsEqualTo(0);
        await Assert.That(mismatches).IsEqualTo(0);
    }

    [Test]
    public async Task A_failing_base_fails_the_pieces_it_holds_and_only_those()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("raid-err");
        string good = Bdevs.Malloc("rg", "num_blocks=1024&blk_size=512");
        string bad = Bdevs.Malloc("rbad", "num_blocks=1024&blk_size=512");
        string ee = CreateOn(t, $"error:///{bad}").Name!;
        string name = Bdevs.Unique("r0e");
        var created = CreateOn(t, $"raid0:///{name}?strip_size_kb=4&base_bdevs={good},{ee}");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(64 * Bs).Fill(seed: 5);
        int inject = ErrorModule.Inject(ee, (int)BdevIoType.Write, ErrorModule.Failure, 100);
        int onGood = s.Run(BdevIoType.Write, buf.Pointer, 0, 8);      // strip 0: the good base
        int onBad = s.Run(BdevIoType.Write, buf.Pointer, 8, 8);       // strip 1: the error bdev
        int across = s.Run(BdevIoType.Write, buf.Pointer, 4, 40);     // both
        int read = s.Run(BdevIoType.Read, buf.Pointer, 0, 64);        // reads are not injected
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(ee, t);
        Bdevs.DestroyAndWait(bad, t);
        Bdevs.DestroyAndWait(good, t);

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(inject).IsEqualTo(0);
        await Assert.That(onGood).IsEqualTo(0);
        await Assert.That(onBad).IsEqualTo(-Errno.EIO);
        await Assert.That(across).IsEqualTo(-Errno.EIO);
        await Assert.That(read).IsEqualTo(0);
    }

    [Test]
    public async Task The_raid_goes_away_with_a_base_and_a_claimed_base_is_not_taken_twice()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("raid-life");
        string a = Bdevs.Malloc("rla"), b = Bdevs.Malloc("rlb");
        string name = Bdevs.Unique("cc");
        var created = CreateOn(t, $"concat:///{name}?strip_size_kb=64&base_bdevs={a},{b}");
        var second = CreateOn(t, $"raid0:///{Bdevs.Unique("r2")}?strip_size_kb=64&base_bdevs={b}");
        bool gone = Bdevs.DestroyAndWait(a, t) && ThreadHost.PollUntil(() => BdevRegistry.Find(name) == null, t);
        bool bReleased = Bdevs.Find(b).ClaimedBy == null;
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(second.Rc).IsEqualTo(-Errno.EPERM);
        await Assert.That(second.Message).Contains("claimed");
        await Assert.That(gone).IsTrue();
        await Assert.That(bReleased).IsTrue();
    }

    [Test]
    [Arguments("raid0:///{0}?strip_size_kb=6&base_bdevs={1}", -22, "power of two")]
    [Arguments("raid0:///{0}?strip_size_kb=0&base_bdevs={1}", -22, "power of two")]
    [Arguments("raid0:///{0}?base_bdevs={1}", -22, "power of two")]
    [Arguments("concat:///{0}?strip_size_kb=4", -22, "base_bdevs")]
    [Arguments("concat:///{0}?strip_size_kb=4&base_bdevs={1},{1}", -22, "named twice")]
    [Arguments("concat:///{0}?strip_size_kb=4&base_bdevs={1},nosuch", -19, "no bdev named 'nosuch'")]
    [Arguments("concat:///{0}?strip_size_kb=4&base_bdevs={1},{2}", -22, "4096-byte blocks")]
    [Arguments("raid0:///{0}?strip_size_kb=2&base_bdevs={2}", -22, "smaller than one 4096-byte block")]
    [Arguments("raid0:///{0}?strip_size_kb=8192&base_bdevs={1}", -22, "no whole 8192 KiB strip")]
    [Arguments("raid0:///{0}?strip_size_kb=4&base_bdevs={1}&level=1", -22, "unknown parameter 'level'")]
    public async Task Bad_raids_are_refused_with_a_message(string uri, int rc, string message)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("raid-bad");
        string a = Bdevs.Malloc("rba", "size_mb=4&blk_size=512");
        string big = Bdevs.Malloc("rbb", "size_mb=4&blk_size=4096");
        var r = CreateOn(t, string.Format(uri, Bdevs.Unique("rbad"), a, big));
        bool unclaimed = Bdevs.Find(a).ClaimedBy == null && Bdevs.Find(big).ClaimedBy == null;
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(big, t);

        await Assert.That(r.Rc).IsEqualTo(rc);
        await Assert.That(r.Message).Contains(message);
        await Assert.That(unclaimed).IsTrue();
    }
}
