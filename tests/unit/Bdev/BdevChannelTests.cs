using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>BdevChannel.Submit's checks and the I/O pool: a refused I/O returns -errno and
/// never sees its callback; an accepted one always does, on a later poll of its thread.</summary>
[NotInParallel(Keys.Threads)]
public class BdevChannelTests
{
    /// <summary>Submit's rc and message (LastError is per OS thread: read it here).</summary>
    private static (int Rc, string Message) Try(BdevSession s, BdevIoType type, nint buf, ulong offset, ulong blocks,
        IoLog log)
    {
        LastError.Clear();
        int rc = s.Submit(type, buf, offset, blocks, log, 99);
        return (rc, LastError.Message);
    }

    private static (int Rc, string Message) TryV(BdevSession s, BdevIoType type, IovArray iovs, ulong offset,
        ulong blocks, IoLog log)
    {
        LastError.Clear();
        int rc = s.SubmitV(type, iovs, offset, blocks, log, 99);
        return (rc, LastError.Message);
    }

    [Test]
    public async Task Completion_is_never_inline_and_runs_on_the_channels_thread()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("inline");
        string name = Bdevs.Malloc("inline");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(512);
        var log = new IoLog();

        int rc = s.Submit(BdevIoType.Write, buf.Pointer, 0, 1, log, 1);
        int afterSubmit = log.Count;
        int outstanding = s.Channel.Outstanding;
        ThreadHost.Poll(t);
        int afterPoll = log.Count;
        int outstandingAfter = s.Channel.Outstanding;
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(afterSubmit).IsEqualTo(0);
        await Assert.That(outstanding).IsEqualTo(1);
        await Assert.That(afterPoll).IsEqualTo(1);
        await Assert.That(outstandingAfter).IsEqualTo(0);
        await Assert.That(log.Done[0].Status).IsEqualTo(0);
        await Assert.That(log.Done[0].Type).IsEqualTo(BdevIoType.Write);
        await Assert.That(log.Done[0].Thread).IsSameReferenceAs(t);
    }

    [Test]
    public async Task Out_of_range_and_zero_length_io_is_refused_with_EINVAL()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("range");
        string name = Bdevs.Malloc("range", "num_blocks=1000");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4 * 512);
        var log = new IoLog();

        var pastEnd = Try(s, BdevIoType.Read, buf.Pointer, 1000, 1, log);
        var straddling = Try(s, BdevIoType.Write, buf.Pointer, 999, 2, log);
        var wraps = Try(s, BdevIoType.Read, buf.Pointer, ulong.MaxValue, 2, log);
        var hugeCount = Try(s, BdevIoType.Unmap, 0, 1, ulong.MaxValue, log);
        var zeroRead = Try(s, BdevIoType.Read, buf.Pointer, 0, 0, log);
        var zeroWrite = Try(s, BdevIoType.Write, buf.Pointer, 0, 0, log);
        var zeroUnmap = Try(s, BdevIoType.Unmap, 0, 5, 0, log);
        var zeroZeroes = Try(s, BdevIoType.WriteZeroes, 0, 5, 0, log);
        int lastBlock = s.Run(BdevIoType.Write, buf.Pointer, 999, 1);
        for (int i = 0; i < 3; i++)
        {
            ThreadHost.Poll(t);
        }
        int outstanding = s.Channel.Outstanding;
        int free = s.Channel.FreeCount;
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        foreach (var r in new[] { pastEnd, straddling, wraps, hugeCount, zeroRead, zeroWrite, zeroUnmap, zeroZeroes })
        {
            await Assert.That(r.Rc).IsEqualTo(-Errno.EINVAL);
            await Assert.That(r.Message).Contains("outside bdev");
        }
        await Assert.That(pastEnd.Message).IsEqualTo(
            $"blocks 1000+1 are outside bdev '{name}' (1000 blocks) or the length is zero");
        await Assert.That(lastBlock).IsEqualTo(0);
        await Assert.That(log.Count).IsEqualTo(0);
        await Assert.That(outstanding).IsEqualTo(0);
        await Assert.That(free).IsEqualTo(BdevChannel.PoolSize);
    }

    [Test]
    public async Task Read_only_descriptor_refuses_every_modifying_io_with_EBADF()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("ro");
        string name = Bdevs.Malloc("ro");
        BdevSession s = BdevSession.Open(t, name, write: false);
        using var buf = new DmaBuffer(512);
        var log = new IoLog();

        var write = Try(s, BdevIoType.Write, buf.Pointer, 0, 1, log);
        var unmap = Try(s, BdevIoType.Unmap, 0, 0, 1, log);
        var zeroes = Try(s, BdevIoType.WriteZeroes, 0, 0, 1, log);
        var flush = Try(s, BdevIoType.Flush, 0, 0, 1, log);
        int read = s.Run(BdevIoType.Read, buf.Pointer, 0, 1);
        ThreadHost.Poll(t);
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        foreach (var r in new[] { write, unmap, zeroes, flush })
        {
            await Assert.That(r.Rc).IsEqualTo(-Errno.EBADF);
            await Assert.That(r.Message).IsEqualTo("descriptor is read-only");
        }
        await Assert.That(read).IsEqualTo(0);
        await Assert.That(log.Count).IsEqualTo(0);
    }

    [Test]
    public async Task Buffer_shape_errors_are_refused_with_EINVAL()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("iov-errors");
        string name = Bdevs.Malloc("iov-errors");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(8192);
        var log = new IoLog();
        using var shortIovs = new IovArray(buf.Pointer, 1000, 3000);          // 4000 for 4096
        using var longIovs = new IovArray(buf.Pointer, 2048, 2048, 1);        // 4097
        using var none = new IovArray(buf.Pointer);                           // iovcnt 0
        using var tooMany = new IovArray(buf.Pointer, Enumerable.Repeat(4, 1025).ToArray());
        using var maxOk = new IovArray(buf.Pointer, Enumerable.Repeat(4, 1024).ToArray()); // 4096 in 1024 pieces
        using var nullBase = new IovArray(buf.Pointer, 2048, 2048);
        MakeNull(nullBase, 1);

        var mismatch = TryV(s, BdevIoType.Write, shortIovs, 0, 8, log);
        var mismatchRead = TryV(s, BdevIoType.Read, longIovs, 0, 8, log);
        var empty = TryV(s, BdevIoType.Read, none, 0, 8, log);
        var over = TryV(s, BdevIoType.Write, tooMany, 0, 8, log);
        var nulled = TryV(s, BdevIoType.Write, nullBase, 0, 8, log);
        var noBuffer = Try(s, BdevIoType.Read, 0, 0, 8, log);
        int maxPieces = s.RunV(BdevIoType.Write, maxOk, 0, 8);
        ThreadHost.Poll(t);
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(mismatch.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(mismatch.Message).IsEqualTo("iovecs add up to 4000 bytes, the I/O is 4096 bytes");
        await Assert.That(mismatchRead.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(mismatchRead.Message).Contains("4097 bytes");
        await Assert.That(empty.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(empty.Message).Contains("iovcnt must be 1 .. 1024");
        await Assert.That(over.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(over.Message).Contains("iovcnt must be 1 .. 1024");
        await Assert.That(nulled.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(nulled.Message).Contains("NULL base");
        await Assert.That(noBuffer.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(noBuffer.Message).Contains("buffer is NULL");
        await Assert.That(maxPieces).IsEqualTo(0);
        await Assert.That(log.Count).IsEqualTo(0);
    }

    private static unsafe void MakeNull(IovArray iovs, int index) => iovs.Pointer[index].Base = null;

    [Test]
    public async Task Unsupported_io_type_is_refused_with_ENOTSUP()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("unsupported");
        string name = Bdevs.Malloc("unsupported");
        BdevSession s = BdevSession.Open(t, name);
        var log = new IoLog();

        var admin = Try(s, BdevIoType.NvmeAdmin, 0, 0, 1, log);
        var nvmeIo = Try(s, BdevIoType.NvmeIo, 0, 0, 1, log);
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(admin.Rc).IsEqualTo(-Errno.ENOTSUP);
        await Assert.That(nvmeIo.Rc).IsEqualTo(-Errno.ENOTSUP);
        await Assert.That(log.Count).IsEqualTo(0);
    }

    [Test]
    public async Task A_full_pool_refuses_with_ENOMEM_and_callbacks_can_still_resubmit()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("pool");
        string name = Bdevs.Null("pool");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(512);
        var r = new Resubmitter(s, buf.Pointer);
        int pool = BdevChannel.PoolSize;

        int accepted = 0;
        for (int i = 0; i < pool; i++)
        {
            accepted += r.Submit(i) == 0 ? 1 : 0;
        }
        LastError.Clear();
        int overflow = r.Submit(pool);
        string message = LastError.Message;
        int freeWhenFull = s.Channel.FreeCount;
        // Every completion resubmits once, into a pool that is full when the callback runs.
        bool done = ThreadHost.PollUntil(() => r.Completed == 2 * pool, t);
        int free = s.Channel.FreeCount;
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        await Assert.That(accepted).IsEqualTo(pool);
        await Assert.That(overflow).IsEqualTo(-Errno.ENOMEM);
        await Assert.That(message).Contains("no free bdev_io");
        await Assert.That(freeWhenFull).IsEqualTo(0);
        await Assert.That(done).IsTrue();
        await Assert.That(r.ResubmitErrors).IsEqualTo(0);
        await Assert.That(r.Errors).IsEqualTo(0);
        await Assert.That(free).IsEqualTo(pool);
    }

    /// <summary>Completes each first-generation I/O by submitting its successor.</summary>
    private sealed unsafe class Resubmitter(BdevSession s, nint buf)
    {
        public int Completed, Errors, ResubmitErrors;

        public int Submit(nint tag)
        {
            nint arg = IoTickets.Arg(&OnDone, this, tag);
            return IoTickets.FreeIfRefused(
                s.Channel.Submit(s.Desc, BdevIoType.Read, null, 0, (void*)buf, 0, 1, IoTickets.Callback, arg), arg);
        }

        private static void OnDone(BdevIo* io, int status, object? ctx, nint tag)
        {
            var r = (Resubmitter)ctx!;
            r.Completed++;
            r.Errors += status != 0 ? 1 : 0;
            if (tag < 1_000_000 && r.Submit(tag + 1_000_000) != 0)
            {
                r.ResubmitErrors++;
            }
        }
    }
}
