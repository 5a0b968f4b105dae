using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>Data through a malloc bdev: what is written is read back, in any buffer shape.</summary>
[NotInParallel(Keys.Threads)]
public class MallocModuleTests
{
    [Test]
    [Arguments(512)]
    [Arguments(4096)]
    public async Task Written_patterns_read_back_and_untouched_blocks_stay_zero(int blockSize)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("malloc-rw");
        string name = Bdevs.Malloc("rw", $"size_mb=4&blk_size={blockSize}");
        BdevSession s = BdevSession.Open(t, name);
        ulong blocks = s.Bdev.BlockCount;
        using var a = new DmaBuffer(8 * blockSize).Fill(seed: 1);
        using var b = new DmaBuffer(3 * blockSize).Fill(seed: 2);
        using var all = new DmaBuffer(16 * blockSize);
        using var tail = new DmaBuffer(2 * blockSize);

        int wa = s.Run(BdevIoType.Write, a.Pointer, 4, 8);                  // blocks 4..11
        int wb = s.Run(BdevIoType.Write, b.Pointer, 10, 3);                 // 10..12, over a's end
        int wTail = s.Run(BdevIoType.Write, b.Pointer, blocks - 2, 2);      // the last two blocks
        int rAll = s.Run(BdevIoType.Read, all.Pointer, 0, 16);
        int rTail = s.Run(BdevIoType.Read, tail.Pointer, blocks - 2, 2);
        bool head = all.IsZero(0, 4 * blockSize);
        bool aKept = all.HasPattern(1, 4 * blockSize, 6 * blockSize, patternOffset: 0);
        bool bWins = all.HasPattern(2, 10 * blockSize, 3 * blockSize, patternOffset: 0);
        bool after = all.IsZero(13 * blockSize);
        bool tailOk = tail.HasPattern(2, 0, 2 * blockSize);
        s.Close();
        bool destroyed = Bdevs.DestroyAndWait(name, t);

        await Assert.That(wa + wb + wTail + rAll + rTail).IsEqualTo(0);
        await Assert.That(head).IsTrue();
        await Assert.That(aKept).IsTrue();
        await Assert.That(bWins).IsTrue();
        await Assert.That(after).IsTrue();
        await Assert.That(tailOk).IsTrue();
        await Assert.That(destroyed).IsTrue();
    }

    [Test]
    public async Task Vectored_io_with_uneven_iovecs_matches_flat_io()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("malloc-iov");
        string name = Bdevs.Malloc("iov");
        BdevSession s = BdevSession.Open(t, name);
        const int bytes = 8 * 512;
        using var src = new DmaBuffer(bytes).Fill(seed: 7);
        using var flat = new DmaBuffer(bytes);
        using var scattered = new DmaBuffer(bytes + 64).FillByte(0xEE);
        // Write from 5 pieces, one of them empty, none block-aligned.
        using var writeIovs = new IovArray(src.Pointer, 1, 511, 0, 1000, 2584);
        // Read into 3 pieces with a 64-byte gap in the destination buffer.
        using var readAll = MakeGapped(scattered.Pointer, (3000, 0), (17, 3064), (1079, 3081));

        int w = s.RunV(BdevIoType.Write, writeIovs, 100, 8);
        int rFlat = s.Run(BdevIoType.Read, flat.Pointer, 100, 8);
        int rV = s.RunV(BdevIoType.Read, readAll, 100, 8);
        bool flatOk = flat.HasPattern(7);
        bool part1 = scattered.HasPattern(7, 0, 3000, patternOffset: 0);
        bool gapUntouched = scattered.Span.Slice(3000, 64).IndexOfAnyExcept((byte)0xEE) < 0;
        bool part2 = scattered.HasPattern(7, 3064, 17 + 1079, patternOffset: 3000);
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(w).IsEqualTo(0);
        await Assert.That(rFlat).IsEqualTo(0);
        await Assert.That(rV).IsEqualTo(0);
        await Assert.That(flatOk).IsTrue();
        await Assert.That(part1).IsTrue();
        await Assert.That(gapUntouched).IsTrue();
        await Assert.That(part2).IsTrue();
    }

    /// <summary>An iovec array whose pieces sit at the given offsets of one buffer.</summary>
    private static unsafe IovArray MakeGapped(nint buffer, params (int Length, int Offset)[] pieces)
    {
        var iovs = new IovArray(buffer, pieces.Select(p => p.Length).ToArray());
        for (int i = 0; i < pieces.Length; i++)
        {
            iovs.Pointer[i].Base = (byte*)(buffer + pieces[i].Offset);
        }
        return iovs;
    }

    [Test]
    public async Task Unmap_and_write_zeroes_read_back_zeros_and_leave_neighbours_alone()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("malloc-zero");
        string name = Bdevs.Malloc("zero");
        BdevSession s = BdevSession.Open(t, name);
        const int bs = 512;
        using var pattern = new DmaBuffer(16 * bs).Fill(seed: 3);
        using var back = new DmaBuffer(16 * bs);

        int w = s.Run(BdevIoType.Write, pattern.Pointer, 0, 16);
        int unmap = s.Run(BdevIoType.Unmap, 0, 2, 4);        // blocks 2..5
        int zeroes = s.Run(BdevIoType.WriteZeroes, 0, 9, 3); // blocks 9..11
        int flush = s.Run(BdevIoType.Flush, 0, 0, 16);
        int flushAll = s.Run(BdevIoType.Flush, 0, 0, 0);     // flush of nothing is allowed
        int r = s.Run(BdevIoType.Read, back.Pointer, 0, 16);
        bool[] zero = Enumerable.Range(0, 16).Select(i => back.IsZero(i * bs, bs)).ToArray();
        bool[] kept = Enumerable.Range(0, 16).Select(i => back.HasPattern(3, i * bs, bs)).ToArray();
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(w + unmap + zeroes + flush + flushAll + r).IsEqualTo(0);
        await Assert.That(string.Join("", zero.Select(z => z ? 'z' : '.'))).IsEqualTo("..zzzz...zzz....");
        await Assert.That(string.Join("", kept.Select(k => k ? 'p' : '.'))).IsEqualTo("pp....ppp...pppp");
    }

    [Test]
    public async Task A_new_malloc_bdev_reads_zeros()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("malloc-fresh");
        string name = Bdevs.Malloc("fresh", "size_mb=1");
        BdevSession s = BdevSession.Open(t, name, write: false);
        using var buf = new DmaBuffer(1 << 20).FillByte(0x5A);

        int r = s.Run(BdevIoType.Read, buf.Pointer, 0, 2048);
        bool zero = buf.IsZero();
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(r).IsEqualTo(0);
        await Assert.That(zero).IsTrue();
    }

    [Test]
    public async Task Two_threads_see_each_others_writes()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("malloc-a"), b = host.Create("malloc-b");
        string name = Bdevs.Malloc("shared");
        BdevSession sa = BdevSession.Open(a, name);
        BdevSession sb = BdevSession.Open(b, name, write: false);
        using var w = new DmaBuffer(4096).Fill(seed: 9);
        using var r = new DmaBuffer(4096);

        int wrc = sa.Run(BdevIoType.Write, w.Pointer, 64, 8);
        int rrc = sb.Run(BdevIoType.Read, r.Pointer, 64, 8);
        bool same = r.HasPattern(9);
        bool twoChannels = sa.Channel != sb.Channel && sa.Channel.Thread == a && sb.Channel.Thread == b;
        sa.Close();
        sb.Close();
        Bdevs.DestroyAndWait(name, a, b);

        await Assert.That(wrc + rrc).IsEqualTo(0);
        await Assert.That(same).IsTrue();
        await Assert.That(twoChannels).IsTrue();
    }
}
