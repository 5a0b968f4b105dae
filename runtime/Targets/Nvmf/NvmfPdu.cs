using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme.Tcp;

namespace NativeBdev.Targets.Nvmf;

/// <summary>What a controller accepts of a PDU's common header (NVMe/TCP 1.0, 3.6): the
/// types a host sends, their header lengths, PDO and PLEN against the digests negotiated
/// and the in-capsule limit. Pure (the fuzzer feeds it arbitrary bytes): 0 and the bytes
/// to read before the data and of the data, or -EPROTO with a message and the fatal
/// error status and field offset a C2HTermReq reports.</summary>
internal static class NvmfPdu
{
    public static int HeaderLength(NvmeTcpPduType type) => type switch
    {
        NvmeTcpPduType.ICReq => NvmeTcpPdu.ICBytes,
        NvmeTcpPduType.H2CTermReq => NvmeTcpPdu.TermReqHeaderBytes,
        NvmeTcpPduType.CapsuleCmd => NvmeTcpPdu.CapsuleCmdHeaderBytes,
        NvmeTcpPduType.H2CData => NvmeTcpPdu.DataHeaderBytes,
        _ => 0,
    };

    /// <param name="initialized">ICReq/ICResp done: only then are digests in force and is an
    /// ICReq a sequence error.</param>
    /// <param name="maxInCapsule">The in-capsule data a command capsule may carry.</param>
    /// <param name="maxData">The data an H2CData PDU may carry (MAXH2CDATA).</param>
    public static int Check(in NvmeTcpHeader h, bool initialized, bool headerDigest, bool dataDigest,
        int maxInCapsule, uint maxData, out int headerBytes, out int dataBytes, out ushort fes, out uint fei)
    {
        headerBytes = 0;
        dataBytes = 0;
        fes = NvmeTcpPdu.FesInvalidHeaderField;
        fei = 0;
        int expect = HeaderLength(h.Type);
        if (expect == 0)
        {
            return Fail($"unknown or controller-bound PDU type 0x{(byte)h.Type:x2}");
        }
        if (!initialized && h.Type != NvmeTcpPduType.ICReq)
        {
            fes = NvmeTcpPdu.FesPduSequenceError;
            return Fail($"{h.Type} before ICReq");
        }
        if (initialized && h.Type == NvmeTcpPduType.ICReq)
        {
            fes = NvmeTcpPdu.FesPduSequenceError;
            return Fail("a second ICReq");
        }
        if (h.Hlen != expect)
        {
            fei = 2;
            return Fail($"{h.Type} with header length {h.Hlen} (must be {expect})");
        }
        if (h.Type == NvmeTcpPduType.ICReq)
        {
            if (h.Plen != NvmeTcpPdu.ICBytes || h.Pdo != 0)
            {
                fei = 4;
                return Fail($"ICReq with PDU length {h.Plen} and data offset {h.Pdo} (must be 128, 0)");
            }
            headerBytes = NvmeTcpPdu.ICBytes;
            return 0;
        }
        if (h.Type == NvmeTcpPduType.H2CTermReq)
        {
            if (h.Plen < NvmeTcpPdu.TermReqHeaderBytes || h.Plen > NvmeTcpPdu.TermReqHeaderBytes + 128)
            {
                fei = 4;
                return Fail($"H2CTermReq with PDU length {h.Plen}");
            }
            headerBytes = h.Hlen;
            dataBytes = (int)h.Plen - h.Hlen;
            return 0;
        }
        bool hd = (h.Flags & NvmeTcpPdu.FlagHeaderDigest) != 0;
        bool dd = (h.Flags & NvmeTcpPdu.FlagDataDigest) != 0;
        if (hd != headerDigest)
        {
            fei = 1;
            return Fail($"{h.Type} header digest flag {(hd ? "set" : "clear")}, but header digests are " +
                $"{(headerDigest ? "on" : "off")}");
        }
        int hdBytes = headerDigest ? NvmeTcpPdu.DigestBytes : 0;
        if (h.Plen == (uint)(h.Hlen + hdBytes))
        {
            // No data: a capsule without in-capsule data (an H2CData with none is refused below).
            if (h.Pdo != 0 || dd || h.Type == NvmeTcpPduType.H2CData)
            {
                fei = h.Pdo != 0 ? 3u : 1u;
                return Fail($"{h.Type} without data but with data offset {h.Pdo} or data digest flag");
            }
            headerBytes = h.Hlen + hdBytes;
            return 0;
        }
        if (dd != dataDigest)
        {
            fei = 1;
            return Fail($"{h.Type} data digest flag {(dd ? "set" : "clear")}, but data digests are " +
                $"{(dataDigest ? "on" : "off")}");
        }
        int ddBytes = dataDigest ? NvmeTcpPdu.DigestBytes : 0;
        // CPDA 0: data may start right after the header (and its digest); a host may pad more.
        if (h.Pdo < h.Hlen + hdBytes || h.Plen < (uint)(h.Pdo + ddBytes) || h.Plen > int.MaxValue)
        {
            fei = 3;
            return Fail($"{h.Type} with data offset {h.Pdo} and PDU length {h.Plen} (header {h.Hlen + hdBytes} bytes)");
        }
        long data = h.Plen - h.Pdo - ddBytes;
        long limit = h.Type == NvmeTcpPduType.CapsuleCmd ? maxInCapsule : maxData;
        if (data == 0 || data > limit)
        {
            fes = NvmeTcpPdu.FesDataLimitExceeded;
            fei = 4;
            return Fail($"{h.Type} with {data} bytes of data (at most {limit})");
        }
        headerBytes = h.Pdo;
        dataBytes = (int)data;
        return 0;
    }

    private static int Fail(string what) => LastError.Set(Errno.EPROTO, $"NVMe/TCP target: {what}");
}
