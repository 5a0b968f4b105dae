using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;

namespace NativeBdev.Tests.Nvme;

/// <summary>A small NVMe/TCP target for the initiator's tests: a real TCP peer on
/// 127.0.0.1, one OS thread per connection, blocking sockets. It speaks the protocol from
/// the specification (ICReq/ICResp, capsules, R2T and H2CData, C2HData with or without
/// SUCCESS, digests it verifies and drops the connection on, as Linux's nvmet does), keeps
/// one namespace of 512-byte blocks in memory, and counts what it saw. Test code only: the
/// project's own target lives in runtime/Targets.</summary>
internal sealed class NvmeTcpTestTarget : IDisposable
{
    public const string Nqn = "nqn.2026-12.io.nativebdev:test-target";
    public const string Model = "NativeBdev TCP test target";
    private TcpListener _listener;
    private Socket? _reserved; // while stopped: the port stays ours, bound but not listening
    private readonly List<Socket> _sockets = new();
    private volatile bool _stop;
    private readonly object _lock = new();
    private uint _cc;
    private uint _csts;

    public readonly byte[] Medium;
    public int Port { get; }
    public uint MaxH2CData = 16384;          // small: large writes take several H2CData PDUs
    public uint InCapsuleBytes = 4096;
    public uint R2TBytes = 65536;            // the most one R2T asks for
    public uint C2HChunk = 24576;
    public bool C2HSuccess = true;
    public int Mdts = 5;                     // 4 KiB << 5 = 128 KiB
    public string? AllowedHost;
    public long KeepAlives;
    public long Connects;
    public long IoConnects;
    public long R2Ts;
    public long H2CDataPdus;
    public long InCapsuleWrites;
    public long DigestErrors;
    public long Reads;
    public bool HeaderDigestSeen;
    public bool DataDigestSeen;
    public string LastError = "";

    public NvmeTcpTestTarget(long blocks = 32768)
    {
        Medium = new byte[blocks * 512];
        _listener = Listen(0);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
    }

    private TcpListener Listen(int port)
    {
        var l = new TcpListener(IPAddress.Loopback, port);
        l.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        l.Start();
        new Thread(() => AcceptLoop(l)) { IsBackground = true, Name = "tcp-test-target" }.Start();
        return l;
    }

    /// <summary>The target goes away: no listener, every connection closed (the medium stays).
    /// The port stays bound without listening: connections to it are refused, and no other test's
    /// listener (tests run in parallel, bind(0) hands out freed ports) can take it meanwhile —
    /// a host reconnecting would reach that target instead.</summary>
    public void Stop()
    {
        _listener.Stop();
        DropConnections();
        var reserve = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        reserve.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        reserve.Bind(new IPEndPoint(IPAddress.Loopback, Port));
        _reserved = reserve;
    }

    /// <summary>Back on the same port.</summary>
    public void Restart()
    {
        _reserved?.Dispose();
        _reserved = null;
        _listener = Listen(Port);
    }

    public string Uri(string query = "") =>
        $"nvmf://127.0.0.1:{Port}/{Nqn}{(query.Length > 0 ? "?" + query : "")}";

    /// <summary>Closes every connection (a target restart, a cut cable): new ones are accepted.</summary>
    public void DropConnections()
    {
        lock (_sockets)
        {
            foreach (Socket s in _sockets)
            {
                try
                {
                    s.Shutdown(SocketShutdown.Both);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
                s.Close();
            }
            _sockets.Clear();
        }
    }

    public void Dispose()
    {
        _stop = true;
        _listener.Stop();
        DropConnections();
        _reserved?.Dispose();
    }

    private void AcceptLoop(TcpListener listener)
    {
        while (!_stop)
        {
            Socket s;
            try
            {
                s = listener.AcceptSocket();
            }
            catch (Exception)
            {
                return;
            }
            s.NoDelay = true;
            lock (_sockets)
            {
                _sockets.Add(s);
            }
            new Thread(() => Serve(s)) { IsBackground = true, Name = "tcp-test-conn" }.Start();
        }
    }

    private sealed class Conn(Socket s)
    {
        public readonly Socket S = s;
        public bool Hd, Dd;
        public ushort Qid;
        /// <summary>Capsules that came while an R2T's data was awaited (a host may send them).</summary>
        public readonly Queue<(NvmeCommand Cmd, byte[] Data)> Pending = new();

        public void Read(Span<byte> b)
        {
            while (b.Length > 0)
            {
                int n = S.Receive(b);
                if (n == 0)
                {
                    throw new EndOfStreamException();
                }
                b = b[n..];
            }
        }

        public void Write(ReadOnlySpan<byte> b) => S.Send(b);
    }

    private void Serve(Socket s)
    {
        var c = new Conn(s);
        try
        {
            var ic = new byte[128];
            c.Read(ic);
            c.Hd = (ic[11] & 1) != 0;
            c.Dd = (ic[11] & 2) != 0;
            HeaderDigestSeen |= c.Hd;
            DataDigestSeen |= c.Dd;
            NvmeTcpPdu.WriteICResp(ic, 0, c.Hd, c.Dd, MaxH2CData);
            c.Write(ic);
            while (!_stop)
            {
                if (c.Pending.TryDequeue(out var next))
                {
                    Command(c, next.Cmd, next.Data);
                    continue;
                }
                byte[] pdu = ReadPdu(c, out NvmeTcpHeader h, out byte[] data);
                if (h.Type != NvmeTcpPduType.CapsuleCmd)
                {
                    throw new InvalidDataException($"PDU type {h.Type} where a command capsule was expected");
                }
                Command(c, NvmeTcpPdu.ReadCapsuleCmd(pdu), data);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or
            EndOfStreamException or InvalidDataException)
        {
            if (e is InvalidDataException)
            {
                LastError = e.Message;
                Console.Error.WriteLine("test target: " + e.Message);
            }
        }
        finally
        {
            lock (_sockets)
            {
                _sockets.Remove(s);
            }
            s.Close();
        }
    }

    /// <summary>A whole PDU: its header (digest checked) and its data (digest checked).</summary>
    private byte[] ReadPdu(Conn c, out NvmeTcpHeader h, out byte[] data)
    {
        var head = new byte[8];
        c.Read(head);
        h = NvmeTcpPdu.ReadCommonHeader(head);
        if (h.Plen > (16u << 20) || h.Plen < h.Hlen)
        {
            throw new InvalidDataException($"PDU length {h.Plen}");
        }
        var pdu = new byte[h.Plen];
        head.CopyTo(pdu, 0);
        c.Read(pdu.AsSpan(8));
        bool hd = (h.Flags & NvmeTcpPdu.FlagHeaderDigest) != 0, dd = (h.Flags & NvmeTcpPdu.FlagDataDigest) != 0;
        if (hd != c.Hd)
        {
            throw new InvalidDataException("header digest flag differs from the negotiation");
        }
        if (hd && !NvmeTcpPdu.HeaderDigestMatches(pdu, h.Hlen))
        {
            Interlocked.Increment(ref DigestErrors);
            throw new InvalidDataException("header digest error");
        }
        int pdo = h.Pdo == 0 ? (int)h.Plen : h.Pdo;
        int end = (int)h.Plen - (dd ? 4 : 0);
        data = pdo < end ? pdu[pdo..end] : [];
        if (dd && data.Length > 0 && BinaryPrimitives.ReadUInt32LittleEndian(pdu.AsSpan(end)) != Crc32c.Compute(data))
        {
            Interlocked.Increment(ref DigestErrors);
            throw new InvalidDataException("data digest error");
        }
        if (dd != (c.Dd && data.Length > 0))
        {
            throw new InvalidDataException("data digest flag differs from the negotiation");
        }
        return pdu;
    }

    private void Respond(Conn c, ushort cid, int sct = 0, int sc = 0, uint dw0 = 0, uint dw1 = 0)
    {
        var b = new byte[28];
        var cpl = new NvmeCompletion
        {
            Cid = cid, Dw0 = dw0, Dw1 = dw1, SqId = c.Qid, Status = (ushort)(sc << 1 | sct << 9),
        };
        int n = NvmeTcpPdu.WriteCapsuleResp(b, cpl, c.Hd);
        c.Write(b.AsSpan(0, n));
    }

    private void Command(Conn c, NvmeCommand cmd, byte[] inCapsule)
    {
        if (cmd.Opcode == NvmeFabrics.Opcode)
        {
            Fabrics(c, cmd, inCapsule);
            return;
        }
        if (c.Qid == 0)
        {
            Admin(c, cmd);
            return;
        }
        ulong lba = cmd.Cdw10 | (ulong)cmd.Cdw11 << 32;
        int bytes = (int)((cmd.Cdw12 & 0xFFFF) + 1) * 512;
        bool inRange = (long)(lba * 512) + bytes <= Medium.Length;
        switch (cmd.Opcode)
        {
            case NvmeSpec.IoRead when inRange:
                Interlocked.Increment(ref Reads);
                SendData(c, cmd.Cid, Medium.AsSpan((int)(lba * 512), bytes));
                if (!C2HSuccess)
                {
                    Respond(c, cmd.Cid);
                }
                return;
            case NvmeSpec.IoWrite when inRange:
                byte[] data = inCapsule.Length > 0 ? inCapsule : FetchData(c, cmd.Cid, bytes);
                if (inCapsule.Length > 0)
                {
                    Interlocked.Increment(ref InCapsuleWrites);
                }
                data.CopyTo(Medium, (int)(lba * 512));
                Respond(c, cmd.Cid);
                return;
            case NvmeSpec.IoWriteZeroes when inRange:
                Medium.AsSpan((int)(lba * 512), bytes).Clear();
                Respond(c, cmd.Cid);
                return;
            case NvmeSpec.IoFlush:
                Respond(c, cmd.Cid);
                return;
            case NvmeSpec.IoRead or NvmeSpec.IoWrite or NvmeSpec.IoWriteZeroes:
                Respond(c, cmd.Cid, 0, NvmeSpec.ScLbaOutOfRange);
                return;
            default:
                Respond(c, cmd.Cid, 0, NvmeSpec.ScInvalidOpcode);
                return;
        }
    }

    /// <summary>C2HData PDUs of at most <see cref="C2HChunk"/> bytes; the last with SUCCESS
    /// when <see cref="C2HSuccess"/>.</summary>
    private void SendData(Conn c, ushort cid, ReadOnlySpan<byte> data)
    {
        var hdr = new byte[32];
        for (int off = 0; off < data.Length || (off == 0 && data.Length == 0); off += (int)C2HChunk)
        {
            int n = Math.Min((int)C2HChunk, data.Length - off);
            bool last = off + n >= data.Length;
            int h = NvmeTcpPdu.WriteC2HData(hdr, new NvmeTcpDataFields(cid, 0, (uint)off, (uint)n), last,
                last && C2HSuccess, c.Hd, c.Dd);
            var pdu = new byte[h + n + (c.Dd ? 4 : 0)];
            hdr.AsSpan(0, h).CopyTo(pdu);
            data.Slice(off, n).CopyTo(pdu.AsSpan(h));
            if (c.Dd)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(pdu.AsSpan(h + n), Crc32c.Compute(data.Slice(off, n)));
            }
            c.Write(pdu);
            if (data.Length == 0)
            {
                break;
            }
        }
    }

    /// <summary>R2Ts of at most <see cref="R2TBytes"/>, one at a time, each answered by
    /// H2CData PDUs that must cover it exactly, in order, within MAXH2CDATA.</summary>
    private byte[] FetchData(Conn c, ushort cid, int bytes)
    {
        var data = new byte[bytes];
        var r2t = new byte[32];
        ushort ttag = 1;
        for (int off = 0; off < bytes; off += (int)R2TBytes, ttag++)
        {
            int n = Math.Min((int)R2TBytes, bytes - off);
            int h = NvmeTcpPdu.WriteR2T(r2t, new NvmeTcpDataFields(cid, ttag, (uint)off, (uint)n), c.Hd);
            c.Write(r2t.AsSpan(0, h));
            Interlocked.Increment(ref R2Ts);
            int got = 0;
            while (got < n)
            {
                byte[] pdu = ReadPdu(c, out NvmeTcpHeader ph, out byte[] d);
                if (ph.Type == NvmeTcpPduType.CapsuleCmd)
                {
                    c.Pending.Enqueue((NvmeTcpPdu.ReadCapsuleCmd(pdu), d));
                    continue;
                }
                NvmeTcpDataFields f = NvmeTcpPdu.ReadDataFields(pdu);
                if (ph.Type != NvmeTcpPduType.H2CData || f.Cid != cid || f.Ttag != ttag ||
                    f.Offset != off + got || f.Length != d.Length || d.Length > MaxH2CData || got + d.Length > n)
                {
                    throw new InvalidDataException($"bad H2CData: {ph.Type} cid {f.Cid} ttag {f.Ttag} offset " +
                        $"{f.Offset} length {f.Length}/{d.Length} (wanted cid {cid} ttag {ttag} offset {off + got})");
                }
                bool last = (ph.Flags & NvmeTcpPdu.FlagDataLast) != 0;
                if (last != (got + d.Length == n))
                {
                    throw new InvalidDataException("H2CData LAST_PDU flag on the wrong PDU");
                }
                Interlocked.Increment(ref H2CDataPdus);
                d.CopyTo(data, off + got);
                got += d.Length;
            }
        }
        return data;
    }

    private void Fabrics(Conn c, NvmeCommand cmd, byte[] data)
    {
        byte type = (byte)cmd.Nsid;
        lock (_lock)
        {
            switch (type)
            {
                case NvmeFabrics.TypeConnect:
                    string hostnqn = System.Text.Encoding.ASCII.GetString(data, 512, 256).TrimEnd('\0');
                    string subnqn = System.Text.Encoding.ASCII.GetString(data, 256, 256).TrimEnd('\0');
                    if (subnqn != Nqn)
                    {
                        Respond(c, cmd.Cid, 1, NvmeFabrics.ScConnectInvalidParameters, 1u << 16 | 256);
                        return;
                    }
                    if (AllowedHost != null && hostnqn != AllowedHost)
                    {
                        Respond(c, cmd.Cid, 1, NvmeFabrics.ScConnectInvalidHost);
                        return;
                    }
                    c.Qid = (ushort)(cmd.Cdw10 >> 16);
                    Interlocked.Increment(ref Connects);
                    if (c.Qid != 0)
                    {
                        Interlocked.Increment(ref IoConnects);
                    }
                    else
                    {
                        _cc = 0;
                        _csts = 0;
                    }
                    Respond(c, cmd.Cid, dw0: 1);
                    return;
                case NvmeFabrics.TypePropertyGet:
                    ulong v = cmd.Cdw11 switch
                    {
                        NvmeSpec.RegCap => 127UL | 1UL << 16 | 2UL << 24 | 1UL << 37,
                        NvmeSpec.RegVs => 0x10400,
                        NvmeSpec.RegCc => _cc,
                        NvmeSpec.RegCsts => _csts,
                        _ => 0,
                    };
                    Respond(c, cmd.Cid, dw0: (uint)v, dw1: (uint)(v >> 32));
                    return;
                case NvmeFabrics.TypePropertySet:
                    if (cmd.Cdw11 == NvmeSpec.RegCc)
                    {
                        _cc = cmd.Cdw12;
                        _csts = (_cc & 1) != 0 ? 1u : 0u;
                        if ((_cc & NvmeSpec.CcShnMask) != 0)
                        {
                            _csts |= NvmeSpec.CstsShstComplete;
                        }
                    }
                    Respond(c, cmd.Cid);
                    return;
                default:
                    Respond(c, cmd.Cid, 0, NvmeSpec.ScInvalidField);
                    return;
            }
        }
    }

    private void Admin(Conn c, NvmeCommand cmd)
    {
        switch (cmd.Opcode)
        {
            case NvmeSpec.AdminIdentify:
                var id = new byte[4096];
                switch (cmd.Cdw10 & 0xFF)
                {
                    case NvmeSpec.CnsController:
                        System.Text.Encoding.ASCII.GetBytes("TCPTEST0001".PadRight(20), id.AsSpan(4));
                        System.Text.Encoding.ASCII.GetBytes(Model.PadRight(40), id.AsSpan(24));
                        System.Text.Encoding.ASCII.GetBytes("1.0".PadRight(8), id.AsSpan(64));
                        id[77] = (byte)Mdts;
                        id[512] = 0x66;
                        id[513] = 0x44;
                        BinaryPrimitives.WriteUInt32LittleEndian(id.AsSpan(516), 1);
                        BinaryPrimitives.WriteUInt16LittleEndian(id.AsSpan(520), NvmeSpec.OncsWriteZeroes);
                        BinaryPrimitives.WriteUInt32LittleEndian(id.AsSpan(1792), (InCapsuleBytes + 64) / 16);
                        BinaryPrimitives.WriteUInt32LittleEndian(id.AsSpan(1796), 1);
                        break;
                    case NvmeSpec.CnsActiveNamespaces:
                        id[0] = 1;
                        break;
                    case NvmeSpec.CnsNamespace:
                        BinaryPrimitives.WriteUInt64LittleEndian(id, (ulong)Medium.Length / 512);
                        BinaryPrimitives.WriteUInt64LittleEndian(id.AsSpan(8), (ulong)Medium.Length / 512);
                        id[128 + 2] = 9; // LBAF0: 512-byte blocks
                        break;
                }
                SendData(c, cmd.Cid, id);
                if (!C2HSuccess)
                {
                    Respond(c, cmd.Cid);
                }
                return;
            case NvmeSpec.AdminSetFeatures when (cmd.Cdw10 & 0xFF) == NvmeSpec.FeatureNumberOfQueues:
                Respond(c, cmd.Cid, dw0: 3 | 3 << 16);
                return;
            case NvmeSpec.AdminAsyncEventRequest:
                return; // held: no event ever
            case NvmeSpec.AdminKeepAlive:
                Interlocked.Increment(ref KeepAlives);
                Respond(c, cmd.Cid);
                return;
            case NvmeSpec.AdminGetLogPage:
                SendData(c, cmd.Cid, new byte[((cmd.Cdw10 >> 16) + 1) * 4]);
                if (!C2HSuccess)
                {
                    Respond(c, cmd.Cid);
                }
                return;
            default:
                Respond(c, cmd.Cid);
                return;
        }
    }
}
