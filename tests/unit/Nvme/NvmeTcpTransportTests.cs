using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Nvme;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Nvme;

/// <summary>The NVMe/TCP initiator (nvmf:// bdevs, the TCP transport under the
/// transport-neutral controller) against a real TCP peer, <see cref="NvmeTcpTestTarget"/>:
/// bring-up over Fabrics Connect and Property Get/Set, data in-capsule, by R2T in several
/// H2CData PDUs within MAXH2CDATA, C2HData with and without SUCCESS, digests, splitting at
/// MDTS, Keep Alive, a dropped connection (reconnect, I/O resubmitted) and the attach
/// errors. The guest test tests/vm/guest/nvmf_tcp.sh runs the same against Linux's nvmet.</summary>
[NotInParallel(Keys.Threads)]
public class NvmeTcpTransportTests
{
    [Test]
    public async Task Attach_brings_the_controller_up_over_the_fabric()
    {
        using var target = new NvmeTcpTestTarget(blocks: 20000);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-attach");
        string name = Bdevs.Create(target.Uri());
        var bdev = (NvmeBdev)Bdevs.Find(name);
        NvmeController c = bdev.Controller;
        string model = bdev.ProductName, mode = c.Mode;
        ulong blocks = bdev.BlockCount;
        uint mdts = c.MaxTransferBytes;
        int queues = c.MaxIoQueues;
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(name).IsEqualTo($"127.0.0.1:{target.Port}/{NvmeTcpTestTarget.Nqn}n1");
        await Assert.That(model).IsEqualTo(NvmeTcpTestTarget.Model);
        await Assert.That(mode).IsEqualTo("tcp");
        await Assert.That(blocks).IsEqualTo(20000UL);
        await Assert.That(mdts).IsEqualTo(128u * 1024);
        await Assert.That(queues).IsEqualTo(4);
        await Assert.That(target.Connects).IsEqualTo(1L);
        await Assert.That(NvmeController.Find(c.Address)).IsNull();
    }

    [Test]
    [Arguments("", true)]
    [Arguments("hdgst=1&ddgst=1", true)]
    [Arguments("hdgst=1", false)]
    [Arguments("ddgst=true", false)]
    public async Task Data_in_capsule_and_by_r2t_reads_back(string query, bool c2hSuccess)
    {
        // Reads in C2HData of 24 KiB, or (without SUCCESS) of 128 KiB: longer than the receive
        // buffer, so part of each is received straight into the caller's buffer.
        using var target = new NvmeTcpTestTarget
        {
            C2HSuccess = c2hSuccess, C2HChunk = c2hSuccess ? 24576u : 131072u,
        };
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-data");
        string name = Bdevs.Create(target.Uri(query));
        BdevSession s = BdevSession.Open(t, name);
        using var w = new DmaBuffer(1 << 20);
        using var r = new DmaBuffer(1 << 20);
        var failures = new List<string>();
        // In-capsule (512 B, 4 KiB); by R2T (4.5 KiB, 64 KiB: several H2CData of 16 KiB;
        // 600 KiB: split at the 128 KiB MDTS, each by two R2Ts).
        foreach (var (bytes, offset, lba) in
            new[] { (512, 0, 0UL), (4096, 3, 7UL), (4608, 0, 100UL), (65536, 1, 300UL), (600 * 1024, 512, 1000UL) })
        {
            w.Fill(seed: bytes, offset: offset, length: bytes);
            r.FillByte(0);
            int wr = s.Run(BdevIoType.Write, w.At(offset), lba, (ulong)bytes / 512);
            int rd = s.Run(BdevIoType.Read, r.At(offset), lba, (ulong)bytes / 512);
            bool same = r.HasPattern(seed: bytes, offset: offset, length: bytes);
            bool onTarget = target.Medium.AsSpan((int)lba * 512, bytes).SequenceEqual(w.Span.Slice(offset, bytes));
            if (wr != 0 || rd != 0 || !same || !onTarget)
            {
                failures.Add($"{bytes} bytes at +{offset}: write {wr} read {rd} same {same} on target {onTarget}");
            }
        }
        long direct = ((NvmeTcpQueue)((NvmeChannel)s.Channel.Module).Qpair.Queue).DirectReceives;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(failures).IsEmpty();
        await Assert.That(target.LastError).IsEqualTo("");
        await Assert.That(target.DigestErrors).IsEqualTo(0L);
        await Assert.That(target.InCapsuleWrites).IsEqualTo(2L);
        if (!c2hSuccess)
        {
            await Assert.That(direct).IsGreaterThan(0L);
        }
        await Assert.That(target.R2Ts).IsEqualTo(1L + 1 + 2 * 4 + 2); // 600 KiB: 4 x 128 KiB + 88 KiB
        await Assert.That(target.H2CDataPdus).IsGreaterThan(target.R2Ts);
        await Assert.That(target.HeaderDigestSeen).IsEqualTo(query.Contains("hdgst"));
        await Assert.That(target.DataDigestSeen).IsEqualTo(query.Contains("ddgst"));
    }

    [Test]
    public async Task Large_reads_are_received_into_the_callers_buffer_not_staged()
    {
        // 128 KiB C2HData PDUs: after the first, a staged receive asks for only a little past
        // the next header, so nearly all of each PDU's data goes straight into the buffer
        // (before, a 64 KiB staged receive took half of each PDU and copied it).
        using var target = new NvmeTcpTestTarget { C2HChunk = 131072u };
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-direct");
        string name = Bdevs.Create(target.Uri());
        BdevSession s = BdevSession.Open(t, name);
        const int bytes = 128 * 1024, reads = 16;
        using var w = new DmaBuffer(bytes);
        using var r = new DmaBuffer(bytes);
        w.Fill(seed: 11, offset: 0, length: bytes);
        int wr = s.Run(BdevIoType.Write, w.At(0), 64, bytes / 512);
        var queue = (NvmeTcpQueue)((NvmeChannel)s.Channel.Module).Qpair.Queue;
        int bad = 0;
        long staged0 = queue.StagedDataBytes;
        for (int i = 0; i < reads; i++)
        {
            r.FillByte(0);
            int rc = s.Run(BdevIoType.Read, r.At(0), 64, bytes / 512);
            if (rc != 0 || !r.HasPattern(seed: 11, offset: 0, length: bytes))
            {
                bad++;
            }
        }
        long staged = queue.StagedDataBytes - staged0;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(wr).IsEqualTo(0);
        await Assert.That(bad).IsEqualTo(0);
        // The first read may stage up to one full staging buffer; each later one at most what a
        // small staged receive holds past its header.
        await Assert.That(staged).IsLessThanOrEqualTo(64L * 1024 + (reads - 1) * 4096L);
    }

    [Test]
    public async Task Many_writes_in_flight_complete_and_read_back()
    {
        using var target = new NvmeTcpTestTarget();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-qd");
        string name = Bdevs.Create(target.Uri("io_queue_depth=16&hdgst=1&ddgst=1"));
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(64 * 8192);
        buf.Fill(seed: 5);
        var log = new IoLog();
        for (int i = 0; i < 64; i++) // more than the queue holds: the rest wait and follow
        {
            s.Submit(BdevIoType.Write, buf.At(i * 8192), (ulong)i * 16, 16, log, i);
        }
        bool done = ThreadHost.PollUntil(() => log.Count == 64, t);
        string statuses = string.Join(",", log.Done.Select(d => d.Status).Distinct());
        bool onTarget = target.Medium.AsSpan(0, 64 * 8192).SequenceEqual(buf.Span);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(done).IsTrue();
        await Assert.That(statuses).IsEqualTo("0");
        await Assert.That(onTarget).IsTrue();
    }

    [Test]
    [Arguments("")]
    [Arguments("hdgst=1&ddgst=1")]
    public async Task The_io_path_allocates_nothing(string query)
    {
        using var target = new NvmeTcpTestTarget();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-alloc");
        string name = Bdevs.Create(target.Uri(query));
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        ThreadHost.PollUntil(() => ((NvmeChannel)s.Channel.Module).Qpair.Connected, t);
        var chain = new IoChain(s.Channel, s.Desc, buf.Pointer, s.Bdev.BlockCount);
        chain.Run(t, 1_000, 16);
        int warmErrors = chain.Errors;
        long bytes = chain.Run(t, 10_000, 16);
        int completed = chain.Completed, errors = chain.Errors;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(warmErrors).IsEqualTo(0);
        await Assert.That(completed).IsEqualTo(10_000);
        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(bytes).IsEqualTo(0L);
    }

    [Test]
    public async Task Keep_alive_goes_at_half_the_timeout()
    {
        using var target = new NvmeTcpTestTarget();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-ka");
        string name = Bdevs.Create(target.Uri("keep_alive_ms=200"));
        Thread.Sleep(1100);
        long seen = Interlocked.Read(ref target.KeepAlives);
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(seen).IsGreaterThanOrEqualTo(5L); // one per 100 ms
        await Assert.That(seen).IsLessThanOrEqualTo(14L);
    }

    [Test]
    public async Task A_dropped_connection_reconnects_and_io_in_flight_runs_again()
    {
        using var target = new NvmeTcpTestTarget();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-drop");
        string name = Bdevs.Create(target.Uri());
        var bdev = (NvmeBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(16 * 4096);
        buf.Fill(seed: 77);
        await Assert.That(s.Run(BdevIoType.Write, buf.At(0), 0, 8)).IsEqualTo(0);
        target.DropConnections();
        var log = new IoLog();
        for (int i = 0; i < 16; i++)
        {
            s.Submit(BdevIoType.Write, buf.At(i * 4096), (ulong)i * 8, 8, log, i);
        }
        bool done = ThreadHost.PollUntil(() => log.Count == 16, t);
        string statuses = string.Join(",", log.Done.Select(d => d.Status).Distinct());
        bool onTarget = target.Medium.AsSpan(0, 16 * 4096).SequenceEqual(buf.Span);
        long resets = bdev.Controller.ResetCount;
        NvmeControllerState state = bdev.Controller.State;
        using var r = new DmaBuffer(4096);
        int rd = s.Run(BdevIoType.Read, r.At(0), 8, 8);
        bool readBack = r.Span.SequenceEqual(buf.Span.Slice(4096, 4096));
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(done).IsTrue();
        await Assert.That(statuses).IsEqualTo("0");
        await Assert.That(onTarget).IsTrue();
        await Assert.That(resets).IsGreaterThanOrEqualTo(1L);
        await Assert.That(state).IsEqualTo(NvmeControllerState.Ready);
        await Assert.That(rd).IsEqualTo(0);
        await Assert.That(readBack).IsTrue();
        await Assert.That(target.Connects).IsGreaterThanOrEqualTo(4L); // admin + I/O, twice
    }

    private static void PollFor(LightweightThread t, int ms)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < ms)
        {
            ThreadHost.Poll(t);
            Thread.Sleep(1);
        }
    }

    [Test]
    public async Task A_target_that_comes_back_within_the_loss_timeout_gets_the_waiting_io()
    {
        using var target = new NvmeTcpTestTarget();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-back");
        string name = Bdevs.Create(target.Uri("reconnect_delay_ms=100&ctrlr_loss_timeout_s=20"));
        var bdev = (NvmeBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(8 * 4096);
        buf.Fill(seed: 12);
        await Assert.That(s.Run(BdevIoType.Write, buf.At(0), 0, 8)).IsEqualTo(0);
        target.Stop();
        var log = new IoLog();
        for (int i = 0; i < 8; i++)
        {
            s.Submit(BdevIoType.Write, buf.At(i * 4096), (ulong)i * 8, 8, log, i);
        }
        PollFor(t, 700); // several attempts fail meanwhile
        int doneWhileDown = log.Count;
        NvmeControllerState stateWhileDown = bdev.Controller.State;
        target.Restart();
        bool done = ThreadHost.PollUntil(() => log.Count == 8, t);
        string statuses = string.Join(",", log.Done.Select(d => d.Status).Distinct());
        bool onTarget = target.Medium.AsSpan(0, 8 * 4096).SequenceEqual(buf.Span);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(doneWhileDown).IsEqualTo(0);
        await Assert.That(stateWhileDown).IsEqualTo(NvmeControllerState.Resetting);
        await Assert.That(done).IsTrue();
        await Assert.That(statuses).IsEqualTo("0");
        await Assert.That(onTarget).IsTrue();
    }

    [Test]
    public async Task Past_the_loss_timeout_the_controller_fails_and_its_io_with_it()
    {
        using var target = new NvmeTcpTestTarget();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-loss");
        string name = Bdevs.Create(target.Uri("reconnect_delay_ms=100&ctrlr_loss_timeout_s=1"));
        var bdev = (NvmeBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        target.Stop();
        var log = new IoLog();
        s.Submit(BdevIoType.Write, buf.At(0), 0, 8, log, 1);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        bool done = ThreadHost.PollUntil(() => log.Count == 1, t);
        long ms = sw.ElapsedMilliseconds;
        NvmeControllerState state = bdev.Controller.State;
        int after = s.Run(BdevIoType.Read, buf.At(0), 0, 8);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(done).IsTrue();
        await Assert.That(log.Done[0].Status).IsEqualTo(-Errno.EIO);
        await Assert.That(ms).IsGreaterThanOrEqualTo(900L);
        await Assert.That(state).IsEqualTo(NvmeControllerState.Failed);
        await Assert.That(after).IsNotEqualTo(0);
    }

    [Test]
    public async Task Past_the_fast_io_fail_timeout_io_fails_while_reconnecting_goes_on()
    {
        using var target = new NvmeTcpTestTarget();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-fastfail");
        string name = Bdevs.Create(
            target.Uri("reconnect_delay_ms=100&ctrlr_loss_timeout_s=30&fast_io_fail_timeout_s=1"));
        var bdev = (NvmeBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        buf.Fill(seed: 3);
        target.Stop();
        var log = new IoLog();
        s.Submit(BdevIoType.Write, buf.At(0), 0, 8, log, 1);
        bool failed = ThreadHost.PollUntil(() => log.Count == 1, t);
        NvmeControllerState state = bdev.Controller.State;
        int status = failed ? log.Done[0].Status : 0;
        target.Restart();
        bool back = ThreadHost.PollUntil(() => bdev.Controller.State == NvmeControllerState.Ready, t);
        int write = s.Run(BdevIoType.Write, buf.At(0), 0, 8);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(failed).IsTrue();
        await Assert.That(status).IsEqualTo(-Errno.EIO);
        await Assert.That(state).IsEqualTo(NvmeControllerState.Resetting);
        await Assert.That(back).IsTrue();
        await Assert.That(write).IsEqualTo(0);
    }

    [Test]
    public async Task Attach_errors_name_what_is_wrong()
    {
        using var target = new NvmeTcpTestTarget { AllowedHost = "nqn.2014-08.org.example:allowed" };
        string base_ = $"nvmf://127.0.0.1:{target.Port}/";
        async Task Refused(string uri, int errno, string text)
        {
            var (rc, _, message) = Bdevs.TryCreate(uri);
            await Assert.That(rc).IsEqualTo(-errno);
            await Assert.That(message).Contains(text);
        }
        await Refused("nvmf:///" + NvmeTcpTestTarget.Nqn, Errno.EINVAL, "names no host");
        await Refused(base_ + "not.an.nqn", Errno.EINVAL, "not valid");
        await Refused(base_ + NvmeTcpTestTarget.Nqn + "/2", Errno.EINVAL, "one subsystem NQN");
        await Refused(target.Uri("hdgst=sometimes"), Errno.EINVAL, "hdgst");
        await Refused(target.Uri("num_io_queues=0"), Errno.EINVAL, "num_io_queues");
        await Refused(target.Uri("hostid=xyz"), Errno.EINVAL, "hostid");
        await Refused(target.Uri("reconnect=1"), Errno.EINVAL, "reconnect");
        await Refused(target.Uri("ctrlr_loss_timeout_s=2&fast_io_fail_timeout_s=3"), Errno.EINVAL, "fast_io_fail");
        await Refused(target.Uri("name=x"), Errno.EINVAL, "nsid");
        await Refused("nvmf://127.0.0.1:1/" + NvmeTcpTestTarget.Nqn, Errno.ECONNREFUSED, "refused");
        await Refused(base_ + "nqn.2014-08.org.example:other?hostnqn=nqn.2014-08.org.example:allowed", Errno.EIO,
            "subsystem NQN");
        await Refused(target.Uri(), Errno.EACCES, "not allowed");
        await Refused(target.Uri("hostnqn=nqn.2014-08.org.example:allowed&nsid=2"), Errno.ENODEV,
            "no active namespace 2");
        var (ok, name, _) = Bdevs.TryCreate(target.Uri("hostnqn=nqn.2014-08.org.example:allowed&nsid=1&name=" +
            Bdevs.Unique("nvmf")));
        await Assert.That(ok).IsEqualTo(0);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-errors");
        Bdevs.DestroyAndWait(name!, t);
    }
}
