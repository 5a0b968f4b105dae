using System.Buffers.Binary;
using System.Net.Sockets;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Nbd;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Nbd;

/// <summary>The server over real loopback sockets, its thread polled by the test alone:
/// replies out of order, bdev errors as NBD errors, no allocation per request, release of
/// every connection's resources.</summary>
[NotInParallel(Keys.Threads)]
public class NbdServerTests
{
    private sealed class Served : IDisposable
    {
        public readonly ThreadHost Host = new();
        public readonly LightweightThread Thread;
        public readonly NbdServer Server;
        public readonly string Bdev;

        public Served()
        {
            TestEnv.Ensure();
            Thread = Host.Create("nbd-server");
            Bdev = Bdevs.Malloc("nbd", "size_mb=4");
            Server = ThreadHost.OnThread(Thread, () =>
            {
                int rc = NbdServer.Start("127.0.0.1:0", null, out NbdServer? s);
                return rc == 0 ? s! : throw new InvalidOperationException($"start: {rc} {LastError.Message}");
            });
            if (Server.AddExport("disk", Bdev, false, null) != 0)
            {
                throw new InvalidOperationException(LastError.Message);
            }
        }

        public Socket Connect()
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Connect(System.Net.IPEndPoint.Parse(Server.Endpoint.Text));
            s.Blocking = false;
            s.NoDelay = true;
            return s;
        }

        /// <summary>Polls the server until <paramref name="n"/> bytes came (or the deadline).</summary>
        public byte[] Read(Socket s, int n)
        {
            var buf = new byte[n];
            int got = 0;
            ThreadHost.PollUntil(() =>
            {
                try
                {
                    while (got < n)
                    {
                        int r = s.Receive(buf, got, n - got, SocketFlags.None);
                        if (r == 0)
                        {
                            return true;
                        }
                        got += r;
                    }
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
                {
                }
                return got == n;
            }, Thread);
            return got == n ? buf : throw new InvalidOperationException($"read {got} of {n} bytes");
        }

        /// <summary>Client flags and NBD_OPT_GO of <paramref name="name"/> asking for block sizes.</summary>
        public static byte[] Go(string name)
        {
            byte[] data = NbdWireTests.InfoData(name, NbdProtocol.InfoBlockSize);
            var b = new byte[4 + 16 + data.Length];
            b[3] = 3;
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(4), NbdProtocol.OptionMagic);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), NbdProtocol.OptGo);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), (uint)data.Length);
            data.CopyTo(b, 20);
            return b;
        }

        /// <summary>Handshake to transmission on "disk" with simple replies.</summary>
        public Socket Open()
        {
            Socket s = Connect();
            Read(s, 18);
            s.Send(Go("disk"));
            while (true)
            {
                byte[] r = Read(s, 20);
                uint type = BinaryPrimitives.ReadUInt32BigEndian(r.AsSpan(12));
                int n = (int)BinaryPrimitives.ReadUInt32BigEndian(r.AsSpan(16));
                if (n > 0)
                {
                    Read(s, n);
                }
                if (type == NbdProtocol.RepAck)
                {
                    return s;
                }
                if (type != NbdProtocol.RepInfo)
                {
                    throw new InvalidOperationException($"GO answered {type:x}");
                }
            }
        }

        public void Dispose()
        {
            ThreadHost.OnThread(Thread, () =>
            {
                Server.Stop();
                return 0;
            });
            ThreadHost.PollUntil(() => Server.ConnectionCount == 0, Thread);
            FaultRegistry.Clear(Bdev);
            Bdevs.DestroyAndWait(Bdev, Thread);
            Host.Dispose();
        }
    }

    private static byte[] Reply(Served sv, Socket s, out ulong cookie, out uint error)
    {
        byte[] r = sv.Read(s, 16);
        cookie = BinaryPrimitives.ReadUInt64BigEndian(r.AsSpan(8));
        error = BinaryPrimitives.ReadUInt32BigEndian(r.AsSpan(4));
        return r;
    }

    [Test]
    public async Task A_slow_request_is_answered_after_a_fast_one_sent_behind_it()
    {
        using var sv = new Served();
        int rule = FaultRegistry.Add($"inject://{sv.Bdev}?op=read&method=delay-100000&offset=0&num_blk=8");
        Socket s = sv.Open();
        s.Send(NbdWireTests.Request(0, NbdProtocol.CmdRead, 1, 0, 4096));
        s.Send(NbdWireTests.Request(0, NbdProtocol.CmdRead, 2, 1 << 20, 4096));
        Reply(sv, s, out ulong first, out uint e1);
        sv.Read(s, 4096);
        Reply(sv, s, out ulong second, out uint e2);
        sv.Read(s, 4096);
        s.Dispose();
        await Assert.That(rule).IsGreaterThan(0);
        await Assert.That((first, second)).IsEqualTo((2UL, 1UL));
        await Assert.That((e1, e2)).IsEqualTo((0u, 0u));
    }

    [Test]
    public async Task Requests_beyond_the_slots_wait_and_are_answered_when_a_late_reader_frees_them()
    {
        using var sv = new Served();
        Socket s = sv.Open();
        // 100 reads of 64 KiB in one send: 64 take the connection's slots, 36 wait in its
        // receive buffer; the replies (6.4 MiB) fill the socket while the client reads nothing.
        var burst = new List<byte>();
        for (int i = 0; i < 100; i++)
        {
            burst.AddRange(NbdWireTests.Request(0, NbdProtocol.CmdRead, (ulong)i, (ulong)(i % 64) * 65536, 65536));
        }
        s.Send(burst.ToArray());
        for (int i = 0; i < 500; i++)
        {
            ThreadHost.Poll(sv.Thread);
        }
        var seen = new HashSet<ulong>();
        for (int i = 0; i < 100; i++)
        {
            Reply(sv, s, out ulong cookie, out uint error);
            sv.Read(s, 65536);
            if (error == 0)
            {
                seen.Add(cookie);
            }
        }
        s.Dispose();
        await Assert.That(seen.Count).IsEqualTo(100);
    }

    [Test]
    public async Task Requests_wait_for_a_bdev_io_when_the_threads_pool_is_empty()
    {
        int size = BdevIoPool.Size;
        BdevIoPool.Size = 8; // the server thread's pool: far fewer I/Os than the 64 slots
        try
        {
            using var sv = new Served();
            Socket s = sv.Open();
            var burst = new List<byte>();
            for (int i = 0; i < 64; i++)
            {
                burst.AddRange(NbdWireTests.Request(0, NbdProtocol.CmdRead, (ulong)i, (ulong)i * 4096, 4096));
            }
            s.Send(burst.ToArray());
            int ok = 0;
            for (int i = 0; i < 64; i++)
            {
                Reply(sv, s, out _, out uint error);
                sv.Read(s, 4096);
                ok += error == 0 ? 1 : 0;
            }
            s.Dispose();
            await Assert.That(ok).IsEqualTo(64);
        }
        finally
        {
            BdevIoPool.Size = size;
        }
    }

    [Test]
    public async Task A_failed_bdev_io_is_an_EIO_reply_and_the_connection_goes_on()
    {
        using var sv = new Served();
        FaultRegistry.Add($"inject://{sv.Bdev}?op=read&method=status&offset=2048&num_blk=8");
        Socket s = sv.Open();
        s.Send(NbdWireTests.Request(0, NbdProtocol.CmdRead, 9, 1 << 20, 4096));
        Reply(sv, s, out ulong c1, out uint failed);
        s.Send(NbdWireTests.Request(0, NbdProtocol.CmdRead, 10, 0, 4096));
        Reply(sv, s, out ulong c2, out uint ok);
        sv.Read(s, 4096);
        s.Dispose();
        await Assert.That((c1, failed)).IsEqualTo((9UL, NbdProtocol.EIO));
        await Assert.That((c2, ok)).IsEqualTo((10UL, 0u));
    }

    [Test]
    public async Task Requests_allocate_nothing_on_the_servers_thread_once_warm()
    {
        using var sv = new Served();
        Socket s = sv.Open();
        var payload = new byte[4096 + 28];
        NbdWireTests.Request(0, NbdProtocol.CmdWrite, 1, 0, 4096).CopyTo(payload, 0);
        byte[] read = NbdWireTests.Request(0, NbdProtocol.CmdRead, 2, 0, 4096);
        var reply = new byte[16 + 4096];
        long allocated = 0;
        for (int round = 0; round < 300; round++)
        {
            bool measure = round >= 100; // the first rounds warm the pools and the JIT
            s.Send(payload);
            s.Send(read);
            int need = 16 + 16 + 4096, got = 0;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (got < need && sw.Elapsed < ThreadHost.Deadline)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                ThreadHost.Poll(sv.Thread);
                long after = GC.GetAllocatedBytesForCurrentThread();
                if (measure)
                {
                    allocated += after - before;
                }
                if (s.Available > 0)
                {
                    got += s.Receive(reply, 0, Math.Min(reply.Length, need - got), SocketFlags.None);
                }
            }
            if (got != need)
            {
                throw new InvalidOperationException($"round {round}: {got} of {need} reply bytes");
            }
        }
        s.Dispose();
        await Assert.That(allocated).IsEqualTo(0L);
    }

    [Test]
    public async Task Every_connection_releases_its_descriptor_channel_and_dma_buffers()
    {
        using var sv = new Served();
        int dmaBefore = TestEnv.DmaAllocations;
        var sockets = new List<Socket>();
        for (int i = 0; i < 4; i++)
        {
            sockets.Add(sv.Open());
        }
        int dmaOpen = TestEnv.DmaAllocations;
        int descriptors = BdevRegistry.Find(sv.Bdev)!.Descriptors.Count;
        foreach (Socket s in sockets)
        {
            s.Send(NbdWireTests.Request(0, NbdProtocol.CmdRead, 3, 0, 65536));
            s.Dispose(); // gone with its read in flight
        }
        bool drained = ThreadHost.PollUntil(() => sv.Server.ConnectionCount == 0, sv.Thread);
        await Assert.That(descriptors).IsEqualTo(4);
        await Assert.That(dmaOpen - dmaBefore).IsEqualTo(4);
        await Assert.That(drained).IsTrue();
        await Assert.That(TestEnv.DmaAllocations).IsEqualTo(dmaBefore);
        await Assert.That(BdevRegistry.Find(sv.Bdev)!.Descriptors.Count).IsEqualTo(0);
    }

    [Test]
    public async Task Removing_the_bdev_disconnects_its_clients()
    {
        using var sv = new Served();
        string other = Bdevs.Malloc("nbd-gone", "size_mb=1");
        sv.Server.AddExport("gone", other, true, "going");
        Socket s = sv.Connect();
        sv.Read(s, 18);
        s.Send(Served.Go("gone"));
        bool attached = ThreadHost.PollUntil(() => BdevRegistry.Find(other)?.Descriptors.Count == 1, sv.Thread);
        bool destroyed = Bdevs.DestroyAndWait(other, sv.Thread);
        bool closed = ThreadHost.PollUntil(() => sv.Server.ConnectionCount == 0, sv.Thread);
        s.Dispose();
        await Assert.That(attached).IsTrue();
        await Assert.That(destroyed).IsTrue();
        await Assert.That(closed).IsTrue();
    }
}
