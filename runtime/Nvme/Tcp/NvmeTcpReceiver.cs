using System;
using System.Buffers.Binary;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Tcp;

/// <summary>What the receiver hands up, PDU by PDU, in stream order. Each returns 0, or a
/// negative errno (with LastError set) that ends the connection.</summary>
internal abstract class NvmeTcpReceiveSink
{
    public abstract int OnICResp(ReadOnlySpan<byte> pdu);
    public abstract int OnCapsuleResp(in NvmeCompletion cpl);
    public abstract int OnR2T(in NvmeTcpDataFields r2t);
    /// <summary>A C2HData header: the sink checks the command and the range before any
    /// data of it is handed over.</summary>
    public abstract int OnC2HDataStart(in NvmeTcpDataFields data, byte flags);
    /// <summary>The next bytes of the current C2HData PDU's data, in order.</summary>
    public abstract int OnC2HData(ReadOnlySpan<byte> data);
    /// <summary>The current C2HData PDU is complete; <paramref name="digestOk"/> is false when
    /// its data digest did not match (the command fails with a transfer error).</summary>
    public abstract int OnC2HDataEnd(bool digestOk);
    public abstract int OnTermReq(ushort fes, uint fei);
}

/// <summary>The host's receive side of one NVMe/TCP connection as a byte-stream state
/// machine: common header, rest of the header (checked with <see cref="NvmeTcpPdu.CheckReceived"/>
/// and its digest), then a C2HData's data streamed to the sink and its digest verified, a
/// TermReq's copy of the offending PDU skipped. Bytes come in any split: what ends in the
/// middle of a header is kept here (at most one header). No allocation after construction;
/// the fuzz tests feed it arbitrary streams.</summary>
internal sealed class NvmeTcpReceiver
{
    private enum Phase : byte
    {
        Header,
        Data,
        DataDigest,
        TermReqData,
        Failed,
    }

    private readonly byte[] _header = new byte[NvmeTcpPdu.MaxHeaderBytes + 128];
    private readonly NvmeTcpReceiveSink _sink;
    private Phase _phase;
    private int _have;        // header bytes (or digest bytes) gathered
    private int _need;        // header bytes the current PDU has (0: common header not read yet)
    private int _remaining;   // data bytes still to come
    private uint _crc;
    private uint _digest;
    private NvmeTcpHeader _h;

    public NvmeTcpReceiver(NvmeTcpReceiveSink sink) => _sink = sink;

    /// <summary>Set once the ICResp has been read: from then on every PDU is checked for them.</summary>
    public bool HeaderDigest;
    public bool DataDigest;

    /// <summary>PDUs completely received (for tests and statistics).</summary>
    public long Pdus;

    public bool IsFailed => _phase == Phase.Failed;

    /// <summary>Between PDUs (nothing partial held).</summary>
    public bool AtBoundary => _phase == Phase.Header && _have == 0;

    /// <summary>Data bytes of the current C2HData still to come (0 outside its data).</summary>
    public int DataRemaining => _phase == Phase.Data ? _remaining : 0;

    /// <summary>The next data bytes of the current C2HData were received by the caller
    /// straight into the command's buffer (no copy here, no <see cref="NvmeTcpReceiveSink.OnC2HData"/>):
    /// the digest is summed over them where they lie. At most <see cref="DataRemaining"/>.</summary>
    public int DataPlaced(ReadOnlySpan<byte> placed)
    {
        Invariant.Assert(_phase == Phase.Data && placed.Length <= _remaining,
            "NVMe/TCP data placed outside a C2HData's data");
        _remaining -= placed.Length;
        if (DataDigest)
        {
            _crc = Crc32c.Update(_crc, placed);
        }
        int rc = _remaining > 0 ? 0 : EndData();
        if (rc != 0)
        {
            _phase = Phase.Failed;
        }
        return rc;
    }

    public void Reset()
    {
        _phase = Phase.Header;
        _have = _need = _remaining = 0;
        HeaderDigest = DataDigest = false;
    }

    /// <summary>Consumes all of <paramref name="input"/>: 0, or the first error (the
    /// receiver then stays failed until <see cref="Reset"/>).</summary>
    public int Feed(ReadOnlySpan<byte> input)
    {
        if (_phase == Phase.Failed)
        {
            return LastError.Set(Errno.EPROTO, "NVMe/TCP: the connection's receive side failed earlier");
        }
        while (input.Length > 0)
        {
            int rc;
            switch (_phase)
            {
                case Phase.Header:
                    rc = TakeHeader(ref input);
                    break;
                case Phase.Data:
                    rc = TakeData(ref input);
                    break;
                case Phase.DataDigest:
                    rc = TakeDigest(ref input);
                    break;
                default: // TermReqData
                    int n = Math.Min(_remaining, input.Length);
                    input = input[n..];
                    _remaining -= n;
                    rc = _remaining == 0 ? EndTermReq() : 0;
                    break;
            }
            if (rc != 0)
            {
                _phase = Phase.Failed;
                return rc;
            }
        }
        return 0;
    }

    private int TakeHeader(ref ReadOnlySpan<byte> input)
    {
        int target = _need == 0 ? NvmeTcpPdu.CommonHeaderBytes : _need;
        int n = Math.Min(target - _have, input.Length);
        input[..n].CopyTo(_header.AsSpan(_have));
        input = input[n..];
        _have += n;
        if (_have < target)
        {
            return 0;
        }
        if (_need == 0)
        {
            _h = NvmeTcpPdu.ReadCommonHeader(_header);
            int rc = NvmeTcpPdu.CheckReceived(_h, HeaderDigest, DataDigest, out int headerBytes, out int dataBytes);
            if (rc != 0)
            {
                return rc;
            }
            _need = headerBytes;
            _remaining = dataBytes;
            return 0;
        }
        return HeaderComplete();
    }

    private int HeaderComplete()
    {
        ReadOnlySpan<byte> h = _header.AsSpan(0, _need);
        _have = 0;
        _need = 0;
        bool digested = _h.Type is not (NvmeTcpPduType.ICResp or NvmeTcpPduType.C2HTermReq) && HeaderDigest;
        if (digested && !NvmeTcpPdu.HeaderDigestMatches(h, _h.Hlen))
        {
            return LastError.Set(Errno.EPROTO, $"NVMe/TCP: header digest error on a {_h.Type} PDU");
        }
        switch (_h.Type)
        {
            case NvmeTcpPduType.ICResp:
                Pdus++;
                return _sink.OnICResp(h);
            case NvmeTcpPduType.CapsuleResp:
                Pdus++;
                return _sink.OnCapsuleResp(NvmeTcpPdu.ReadCapsuleResp(h));
            case NvmeTcpPduType.R2T:
                Pdus++;
                return _sink.OnR2T(NvmeTcpPdu.ReadDataFields(h));
            case NvmeTcpPduType.C2HTermReq:
                _phase = Phase.TermReqData;
                return _remaining == 0 ? EndTermReq() : 0;
            default: // C2HData
                NvmeTcpDataFields f = NvmeTcpPdu.ReadDataFields(h);
                if (f.Length != (uint)_remaining)
                {
                    return LastError.Set(Errno.EPROTO,
                        $"NVMe/TCP: C2HData says {f.Length} data bytes, its PDU length carries {_remaining}");
                }
                int rc = _sink.OnC2HDataStart(f, _h.Flags);
                if (rc != 0)
                {
                    return rc;
                }
                _crc = ~0u;
                _phase = Phase.Data;
                return _remaining == 0 ? EndData() : 0;
        }
    }

    private int TakeData(ref ReadOnlySpan<byte> input)
    {
        int n = Math.Min(_remaining, input.Length);
        ReadOnlySpan<byte> chunk = input[..n];
        input = input[n..];
        _remaining -= n;
        if (DataDigest)
        {
            _crc = Crc32c.Update(_crc, chunk);
        }
        int rc = _sink.OnC2HData(chunk);
        if (rc != 0 || _remaining > 0)
        {
            return rc;
        }
        return EndData();
    }

    private int EndData()
    {
        if (DataDigest)
        {
            _phase = Phase.DataDigest;
            _have = 0;
            return 0;
        }
        _phase = Phase.Header;
        Pdus++;
        return _sink.OnC2HDataEnd(true);
    }

    private int TakeDigest(ref ReadOnlySpan<byte> input)
    {
        int n = Math.Min(NvmeTcpPdu.DigestBytes - _have, input.Length);
        input[..n].CopyTo(_header.AsSpan(_have));
        input = input[n..];
        _have += n;
        if (_have < NvmeTcpPdu.DigestBytes)
        {
            return 0;
        }
        _have = 0;
        _digest = BinaryPrimitives.ReadUInt32LittleEndian(_header);
        _phase = Phase.Header;
        Pdus++;
        return _sink.OnC2HDataEnd(_digest == ~_crc);
    }

    private int EndTermReq()
    {
        _phase = Phase.Header;
        Pdus++;
        (ushort fes, uint fei) = NvmeTcpPdu.ReadTermReq(_header);
        return _sink.OnTermReq(fes, fei);
    }
}
