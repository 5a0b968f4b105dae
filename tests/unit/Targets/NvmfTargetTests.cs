using System.Buffers.Binary;
using System.Net.Sockets;
using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Nvme;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;
using NativeBdev.Reactor;
using NativeBdev.Tests.Nvme;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Targets;

/// <summary>Our NVMe/TCP target (runtime/Targets/Nvmf) against real peers over loopback
/// sockets: our initiator (nvmf:// bdevs) writing and reading through it with data in
/// capsules, by R2T and split at MDTS, digests on and off; hosts refused by the allow list;
/// a raw client that breaks the protocol (its connection alone ends, with a C2HTermReq);
/// a controller whose host goes silent torn down at its keep-alive timeout.</summary>
[NotInParallel(Keys.Threads)]
public class NvmfTargetTests
{
    private static string Nqn(string tag) => $"nqn.2026-12.io.nativebdev:{Bdevs.Unique(tag)}";

    [Test]
    [Arguments("")]
    [Arguments("hdgst=1&ddgst=1")]
    public async Task Our_initiator_writes_and_reads_through_our_target(string query)
    {
        using var target = new NvmfTargetRunner();
        string malloc = Bdevs.Malloc("tgt-backing", "size_mb=8&blk_size=512");
        string nqn = Nqn("rw");
        int port = target.Export(nqn, malloc);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-host");
        string name = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}{(query.Length > 0 ? "?" + query : "")}");
        BlockDevice remote = Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        BdevSession local = BdevSession.Open(t, malloc, write: false);
        using var w = new DmaBuffer(1 << 20);
        using var r = new DmaBuffer(1 << 20);
        var failures = new List<string>();
        // In-capsule (512 B, 4 KiB), by R2T (4.5 KiB, 64 KiB) and split at the 128 KiB MDTS (600 KiB).
        var sizes = new[] { (512, 0UL), (4096, 7UL), (4608, 100UL), (65536, 300UL), (600 * 1024, 1000UL) };
        foreach (var (bytes, lba) in sizes)
        {
            w.Fill(seed: bytes, length: bytes);
            r.FillByte(0);
            int wr = s.Run(BdevIoType.Write, w.Pointer, lba, (ulong)bytes / 512);
            int rd = s.Run(BdevIoType.Read, r.Pointer, lba, (ulong)bytes / 512);
            bool same = r.HasPattern(seed: bytes, length: bytes);
            r.FillByte(0);
            int lr = local.Run(BdevIoType.Read, r.Pointer, lba, (ulong)bytes / 512);
            bool onBacking = lr == 0 && r.HasPattern(seed: bytes, length: bytes);
            if (wr != 0 || rd != 0 || !same || !onBacking)
            {
                failures.Add($"{bytes} bytes at {lba}: write {wr} read {rd} same {same} backing {onBacking}");
            }
        }
        int zeroes = s.Run(BdevIoType.WriteZeroes, 0, 0, 8);
        r.FillByte(0xAA);
        int zr = s.Run(BdevIoType.Read, r.Pointer, 0, 8);
        bool zeroed = r.Span[..4096].IndexOfAnyExcept((byte)0) < 0;
        int flush = s.Run(BdevIoType.Flush, 0, 0, remote.BlockCount);
        ulong blocks = remote.BlockCount;
        string model = remote.ProductName;
        s.Close();
        local.Close();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(malloc, t);
        await Assert.That(failures).IsEmpty();
        await Assert.That(blocks).IsEqualTo(16384UL);
        await Assert.That(model).IsEqualTo("NativeBdev test ns");
        await Assert.That(zeroes).IsEqualTo(0);
        await Assert.That(zr).IsEqualTo(0);
        await Assert.That(zeroed).IsTrue();
        await Assert.That(flush).IsEqualTo(0);
    }

    [Test]
    public async Task A_host_not_on_the_list_is_refused_until_added()
    {
        using var target = new NvmfTargetRunner();
        string malloc = Bdevs.Malloc("tgt-hosts");
        string nqn = Nqn("hosts");
        int port = target.Export(nqn, malloc, allowAnyHost: false);
        const string hostNqn = "nqn.2026-12.io.nativebdev:host-a";
        string uri = $"nvmf://127.0.0.1:{port}/{nqn}?hostnqn={hostNqn}";
        var (refused, _, why) = Bdevs.TryCreate(uri);
        target.Check(t => t.AddHost(nqn, hostNqn));
        var (allowed, name, _) = Bdevs.TryCreate(uri);
        using var host = new ThreadHost();
        LightweightThread th = host.Create("nvmf-hosts");
        if (allowed == 0)
        {
            Bdevs.DestroyAndWait(name!, th);
        }
        Bdevs.DestroyAndWait(malloc, th);
        await Assert.That(refused).IsLessThan(0);
        await Assert.That(why).Contains("not allowed");
        await Assert.That(allowed).IsEqualTo(0);
    }

    /// <summary>A raw client: ICReq, then whatever the test sends.</summary>
    private static Socket RawClient(int port, out byte[] icresp)
    {
        var sock = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            ReceiveTimeout = 5000,
        };
        sock.Connect("127.0.0.1", port);
        var icreq = new byte[NvmeTcpPdu.ICBytes];
        NvmeTcpPdu.WriteICReq(icreq, 0, false, false, 0);
        sock.Send(icreq);
        icresp = ReadExactly(sock, NvmeTcpPdu.ICBytes);
        return sock;
    }

    private static byte[] ReadExactly(Socket s, int n)
    {
        var b = new byte[n];
        int at = 0;
        while (at < n)
        {
            int got = s.Receive(b, at, n - at, SocketFlags.None);
            if (got == 0)
            {
                throw new IOException($"closed after {at} of {n} bytes");
            }
            at += got;
        }
        return b;
    }

    /// <summary>Reads until the target closes (true) or the timeout passes (false).</summary>
    private static bool ClosedWithin(Socket s, TimeSpan timeout, out byte[] received)
    {
        var all = new List<byte>();
        var buf = new byte[4096];
        s.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        try
        {
            while (true)
            {
                int n = s.Receive(buf);
                if (n == 0)
                {
                    received = all.ToArray();
                    return true;
                }
                all.AddRange(buf.AsSpan(0, n).ToArray());
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            received = all.ToArray();
            return false;
        }
        catch (SocketException)
        {
            received = all.ToArray();
            return true; // reset
        }
    }

    [Test]
    public async Task A_client_breaking_the_protocol_ends_only_its_connection()
    {
        using var target = new NvmfTargetRunner();
        string malloc = Bdevs.Malloc("tgt-bad");
        string nqn = Nqn("bad");
        int port = target.Export(nqn, malloc);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-good");
        string name = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        buf.Fill(seed: 3);
        var outcomes = new List<string>();
        // Each: what a broken client sends after its ICReq.
        var cases = new (string What, byte[] Bytes)[]
        {
            ("an unknown PDU type", [0x55, 0, 8, 0, 8, 0, 0, 0]),
            ("a capsule with a wrong header length", [0x04, 0, 24, 0, 72, 0, 0, 0]),
            ("a second ICReq", Icreq()),
            ("H2CData no R2T asked for", H2CData(ttag: 5, length: 16)),
            ("a capsule with more in-capsule data than allowed", [0x04, 0, 72, 72, 0, 0, 2, 0]),
        };
        foreach (var (what, bytes) in cases)
        {
            using Socket raw = RawClient(port, out byte[] icresp);
            raw.Send(bytes.Length < 72 ? [.. bytes, .. new byte[72]] : bytes);
            bool closed = ClosedWithin(raw, TimeSpan.FromSeconds(5), out byte[] got);
            bool termReq = got.Length >= 24 && got[0] == (byte)NvmeTcpPduType.C2HTermReq;
            int io = s.Run(BdevIoType.Write, buf.Pointer, 8, 8);
            if (icresp[0] != (byte)NvmeTcpPduType.ICResp || !closed || !termReq || io != 0)
            {
                outcomes.Add($"{what}: closed {closed}, C2HTermReq {termReq} ({got.Length} bytes), " +
                    $"good client's write {io}");
            }
        }
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(malloc, t);
        await Assert.That(outcomes).IsEmpty();
    }

    private static byte[] Icreq()
    {
        var b = new byte[NvmeTcpPdu.ICBytes];
        NvmeTcpPdu.WriteICReq(b, 0, false, false, 0);
        return b;
    }

    private static byte[] H2CData(ushort ttag, uint length)
    {
        var b = new byte[NvmeTcpPdu.DataHeaderBytes + length];
        NvmeTcpPdu.WriteH2CData(b, new NvmeTcpDataFields(1, ttag, 0, length), last: true, false, false);
        return b;
    }

    [Test]
    public async Task A_controller_whose_host_goes_silent_ends_at_its_keep_alive_timeout()
    {
        using var target = new NvmfTargetRunner();
        string malloc = Bdevs.Malloc("tgt-kato");
        string nqn = Nqn("kato");
        int port = target.Export(nqn, malloc);
        using Socket raw = RawClient(port, out byte[] icresp);
        NvmeTcpICResp ic = default;
        int icrc = NvmeTcpPdu.ReadICResp(icresp, false, false, out ic);
        // Admin Connect, KATO 500 ms, its 1024 bytes in the capsule.
        NvmeCompletion cpl = RawConnect(raw, 0, NvmeFabrics.DynamicControllerId, nqn,
            "nqn.2026-12.io.nativebdev:silent-host", kato: 500, out byte[] resp);
        int controllers = target.Run(t => t.Find(nqn)!.Controllers.Count()).Result;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        bool closed = ClosedWithin(raw, TimeSpan.FromSeconds(5), out _);
        TimeSpan after = sw.Elapsed;
        int left = target.Run(t => t.Find(nqn)!.Controllers.Count()).Result;
        using var host = new ThreadHost();
        Bdevs.DestroyAndWait(malloc, host.Create("nvmf-kato"));
        await Assert.That(icrc).IsEqualTo(0);
        await Assert.That(ic.Cpda).IsEqualTo((byte)0);
        await Assert.That(ic.MaxH2CData).IsGreaterThanOrEqualTo(4096u);
        await Assert.That((int)resp[0]).IsEqualTo((int)NvmeTcpPduType.CapsuleResp);
        await Assert.That(cpl.Success).IsTrue();
        await Assert.That(cpl.Cid).IsEqualTo((ushort)7);
        await Assert.That(cpl.Dw0 & 0xFFFF).IsGreaterThanOrEqualTo(1u);
        await Assert.That(controllers).IsEqualTo(1);
        await Assert.That(closed).IsTrue();
        await Assert.That(after).IsGreaterThan(TimeSpan.FromMilliseconds(300));
        await Assert.That(left).IsEqualTo(0);
    }

    [Test]
    public async Task Compare_succeeds_on_the_same_data_and_fails_with_compare_failure_on_other_data()
    {
        using var target = new NvmfTargetRunner();
        string malloc = Bdevs.Malloc("tgt-cmp", "size_mb=4&blk_size=512");
        string nqn = Nqn("cmp");
        int port = target.Export(nqn, malloc);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-cmp");
        string name = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(65536);
        buf.Fill(seed: 21);
        int written = s.Run(BdevIoType.Write, buf.Pointer, 40, 128);
        bool oncs = (((NvmeBdev)s.Bdev).Controller.Oncs & NvmeSpec.OncsCompare) != 0;
        NvmeCommand Compare(ulong lba, int blocks) => new()
        {
            Opcode = NvmeSpec.IoCompare, Cdw10 = (uint)lba, Cdw11 = (uint)(lba >> 32), Cdw12 = (uint)(blocks - 1),
        };
        // 4 KiB in the capsule and 64 KiB by R2T, equal; then one byte changed; then beyond the end.
        var (small, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeIo, Compare(40, 8), buf.Pointer, 4096);
        var (large, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeIo, Compare(40, 128), buf.Pointer, 65536);
        buf.Span[60000] ^= 0xFF;
        var (differs, differsStatus) = NvmeTestIo.Passthru(s, BdevIoType.NvmeIo, Compare(40, 128), buf.Pointer,
            65536);
        var (outside, outsideStatus) = NvmeTestIo.Passthru(s, BdevIoType.NvmeIo, Compare(8190, 8), buf.Pointer,
            4096);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(malloc, t);
        await Assert.That(written).IsEqualTo(0);
        await Assert.That(oncs).IsTrue();
        await Assert.That(small).IsEqualTo(0);
        await Assert.That(large).IsEqualTo(0);
        await Assert.That(differs).IsEqualTo(-Errno.EIO);
        await Assert.That(differsStatus).IsEqualTo(((ushort)NvmeSpec.SctMediaError, (ushort)0x85));
        await Assert.That(outside).IsEqualTo(-Errno.EIO);
        await Assert.That(outsideStatus).IsEqualTo(((ushort)NvmeSpec.SctGeneric, (ushort)0x80));
    }

    /// <summary>Sends a Connect capsule (command id 7) on <paramref name="raw"/> and returns its
    /// completion, and in <paramref name="resp"/> the response PDU as it came.</summary>
    private static NvmeCompletion RawConnect(Socket raw, ushort qid, ushort cntlid, string nqn, string hostnqn,
        uint kato, out byte[] resp)
    {
        NvmeCommand cmd = NvmeFabrics.Connect(qid, 32, kato);
        cmd.Cid = 7;
        NvmeTcpPdu.SetSgl(ref cmd, NvmeFabrics.ConnectDataBytes, inCapsule: true);
        var pdu = new byte[NvmeTcpPdu.CapsuleCmdHeaderBytes + NvmeFabrics.ConnectDataBytes];
        NvmeTcpPdu.WriteCapsuleCmd(pdu, cmd, NvmeFabrics.ConnectDataBytes, false, false);
        NvmeFabrics.WriteConnectData(pdu.AsSpan(NvmeTcpPdu.CapsuleCmdHeaderBytes), Guid.Empty, cntlid, nqn, hostnqn);
        raw.Send(pdu);
        resp = ReadExactly(raw, NvmeTcpPdu.CapsuleRespHeaderBytes);
        return NvmeTcpPdu.ReadCapsuleResp(resp);
    }

    [Test]
    public async Task A_fused_command_is_refused_with_invalid_field_and_the_queue_goes_on()
    {
        using var target = new NvmfTargetRunner();
        string malloc = Bdevs.Malloc("tgt-fused", "size_mb=4&blk_size=512");
        string nqn = Nqn("fused");
        int port = target.Export(nqn, malloc);
        const string hostnqn = "nqn.2026-12.io.nativebdev:raw-host";
        using Socket admin = RawClient(port, out _);
        NvmeCompletion adminCpl = RawConnect(admin, 0, NvmeFabrics.DynamicControllerId, nqn, hostnqn, 10000, out _);
        ushort cntlid = (ushort)adminCpl.Dw0;
        // CC.EN with 64-byte SQ and 16-byte CQ entries: I/O queues connect to an enabled controller.
        NvmeCommand enable = NvmeFabrics.PropertySet(NvmeSpec.RegCc, 1u | 6u << 16 | 4u << 20, eightBytes: false);
        enable.Cid = 3;
        var enablePdu = new byte[NvmeTcpPdu.CapsuleCmdHeaderBytes];
        NvmeTcpPdu.WriteCapsuleCmd(enablePdu, enable, 0, false, false);
        admin.Send(enablePdu);
        NvmeCompletion enabled = NvmeTcpPdu.ReadCapsuleResp(ReadExactly(admin, NvmeTcpPdu.CapsuleRespHeaderBytes));
        using Socket io = RawClient(port, out _);
        NvmeCompletion ioCpl = RawConnect(io, 1, cntlid, nqn, hostnqn, 0, out _);
        // Compare of one block, its data in the capsule: first fused (the first command of a
        // compare-and-write pair, FUSE 01b), then the same command alone.
        NvmeCompletion Compare(byte fuse, ushort cid)
        {
            var cmd = new NvmeCommand { Opcode = NvmeSpec.IoCompare, Flags = fuse, Cid = cid, Nsid = 1, Cdw10 = 0 };
            NvmeTcpPdu.SetSgl(ref cmd, 512, inCapsule: true);
            var pdu = new byte[NvmeTcpPdu.CapsuleCmdHeaderBytes + 512]; // zeroes: what a new malloc holds
            NvmeTcpPdu.WriteCapsuleCmd(pdu, cmd, 512, false, false);
            io.Send(pdu);
            return NvmeTcpPdu.ReadCapsuleResp(ReadExactly(io, NvmeTcpPdu.CapsuleRespHeaderBytes));
        }
        NvmeCompletion fused = Compare(1, 10);
        NvmeCompletion alone = Compare(0, 11);
        admin.Close();
        io.Close();
        using var host = new ThreadHost();
        Bdevs.DestroyAndWait(malloc, host.Create("nvmf-fused"));
        await Assert.That(adminCpl.Success).IsTrue();
        await Assert.That(enabled.Success).IsTrue();
        await Assert.That(ioCpl.Success).IsTrue();
        await Assert.That(fused.Cid).IsEqualTo((ushort)10);
        await Assert.That((fused.Sct, fused.Sc)).IsEqualTo((NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
        await Assert.That(alone.Cid).IsEqualTo((ushort)11);
        await Assert.That(alone.Success).IsTrue();
    }

    [Test]
    public async Task The_target_allocates_nothing_per_io()
    {
        using var target = new NvmfTargetRunner();
        string malloc = Bdevs.Malloc("tgt-alloc");
        string nqn = Nqn("alloc");
        int port = target.Export(nqn, malloc);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvmf-alloc");
        string name = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}?num_io_queues=1");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(65536);
        buf.Fill(seed: 9);
        int failures = 0;
        // 4 KiB in the capsule, 64 KiB by R2T and H2CData, and reads of both (C2HData).
        void Round()
        {
            failures += s.Run(BdevIoType.Write, buf.Pointer, 0, 8) != 0 ? 1 : 0;
            failures += s.Run(BdevIoType.Write, buf.Pointer, 64, 128) != 0 ? 1 : 0;
            failures += s.Run(BdevIoType.Read, buf.Pointer, 0, 8) != 0 ? 1 : 0;
            failures += s.Run(BdevIoType.Read, buf.Pointer, 64, 128) != 0 ? 1 : 0;
        }
        for (int i = 0; i < 200; i++)
        {
            Round(); // the pools, the channels and the JIT warm up
        }
        target.Measuring = true;
        for (int i = 0; i < 500; i++)
        {
            Round();
        }
        target.Measuring = false;
        long allocated = target.AllocatedWhileMeasuring;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(malloc, t);
        await Assert.That(failures).IsEqualTo(0);
        await Assert.That(allocated).IsEqualTo(0L);
    }
}
