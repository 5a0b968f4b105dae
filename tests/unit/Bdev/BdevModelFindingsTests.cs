using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>Reproducers of the findings of BdevModelTests. Copy into tests/unit/Bdev/ and run
/// `NativeBdev.Tests --treenode-filter "/*/*/ModelFindingsRepro/*"`: both fail on the
/// runtime as it is and pass with /tmp/nativebdev-closed-desc-ebadf.patch and
/// /tmp/nativebdev-data-fault-iovecs.patch applied.</summary>
[NotInParallel(Keys.Threads)]
public class ModelFindingsRepro
{
    /// <summary>BdevChannel.Submit takes I/O from a descriptor that is already closed, as long
    /// as the thread still holds the bdev's channel through another descriptor.</summary>
    [Test]
    public async Task Channel_refuses_io_from_a_closed_descriptor()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("repro-closed");
        string name = Bdevs.Malloc("closed", "num_blocks=64");
        BdevSession a = BdevSession.Open(t, name);
        BdevSession b = BdevSession.Open(t, name); // same thread: the same channel
        using var w = new DmaBuffer(512).Fill(seed: 4);
        using var r = new DmaBuffer(512);
        a.PutChannel();
        int closed = a.CloseDesc();
        bool shared = ReferenceEquals(a.IoChannel, b.IoChannel);
        // The write through the closed descriptor, on the channel b keeps alive:
        var log = new IoLog();
        int rc = Bdevs.Bound(t, () =>
        {
            unsafe
            {
                nint arg = IoTickets.Arg(BdevSession.Handler, log, 7);
                return IoTickets.FreeIfRefused(b.Channel.Submit(a.Desc, BdevIoType.Write, null, 0, (void*)w.Pointer,
                    8, 1, IoTickets.Callback, arg), arg);
            }
        });
        ThreadHost.PollUntil(() => log.Count >= (rc == 0 ? 1 : 0), t);
        int rr = b.Run(BdevIoType.Read, r.Pointer, 8, 1);
        bool written = r.HasPattern(4);
        b.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(closed).IsEqualTo(0);
        await Assert.That(shared).IsTrue();
        await Assert.That(rr).IsEqualTo(0);
        await Assert.That(rc).IsEqualTo(-Errno.EBADF); // fails: 0, and the write lands
        await Assert.That(written).IsFalse();
    }

    /// <summary>method=data flips the first 8 bytes of each block of a flat read, but with
    /// iovecs it flips the first 8 bytes of each iovec (and every block size further in it):
    /// with iovecs shorter than 8 bytes the read comes back uncorrupted although the rule
    /// fired; with iovecs not on block boundaries the wrong bytes are flipped.</summary>
    [Test]
    public async Task Data_rule_corrupts_vectored_reads_block_by_block()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("repro-data");
        string name = Bdevs.Malloc("data", "num_blocks=64");
        BdevSession s = BdevSession.Open(t, name);
        using var w = new DmaBuffer(1024).Fill(seed: 5);
        int wrc = s.Run(BdevIoType.Write, w.Pointer, 0, 2);
        int id = FaultRegistry.Add($"inject://{name}?op=read&stage=compl&method=data");

        // One block read into 128 iovecs of 4 bytes: nothing is flipped.
        using var tiny = new DmaBuffer(512);
        using var tinyIovs = new IovArray(tiny.Pointer, Enumerable.Repeat(4, 128).ToArray());
        int r1 = s.RunV(BdevIoType.Read, tinyIovs, 0, 1);
        bool tinyCorrupted = !tiny.HasPattern(5, 0, 512);

        // Two blocks read into iovecs of 100 and 924 bytes: block 0's first 8 bytes are
        // flipped, block 1's (byte 512) are not; bytes 100..107 are flipped instead.
        using var split = new DmaBuffer(1024);
        using var splitIovs = new IovArray(split.Pointer, 100, 924);
        int r2 = s.RunV(BdevIoType.Read, splitIovs, 0, 2);
        bool block1Flipped = !split.HasPattern(5, 512, 8);
        bool middleUntouched = split.HasPattern(5, 100, 8);
        FaultRegistry.Remove(id);
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(wrc + r1 + r2).IsEqualTo(0);
        await Assert.That(id).IsGreaterThan(0);
        await Assert.That(tinyCorrupted).IsTrue();   // fails
        await Assert.That(block1Flipped).IsTrue();   // fails
        await Assert.That(middleUntouched).IsTrue(); // fails
    }
}
