using System;
using System.Buffers.Binary;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Tcp;

/// <summary>NVMe/TCP PDU types (NVMe/TCP transport specification, "PDU Type").</summary>
internal enum NvmeTcpPduType : byte
{
    ICReq = 0x00,
    ICResp = 0x01,
    H2CTermReq = 0x02,
    C2HTermReq = 0x03,
    CapsuleCmd = 0x04,
    CapsuleResp = 0x05,
    H2CData = 0x06,
    C2HData = 0x07,
    R2T = 0x09,
}

/// <summary>The 8-byte common header every PDU starts with.</summary>
internal readonly record struct NvmeTcpHeader(NvmeTcpPduType Type, byte Flags, byte Hlen, byte Pdo, uint Plen);

/// <summary>What the controller answered to an ICReq.</summary>
internal readonly record struct NvmeTcpICResp(ushort Pfv, byte Cpda, bool HeaderDigest, bool DataDigest,
    uint MaxH2CData);

/// <summary>The fields of a C2HData, H2CData or R2T PDU (same layout): command id, transfer
/// tag, offset and length of the data in the command's buffer.</summary>
internal readonly record struct NvmeTcpDataFields(ushort Cid, ushort Ttag, uint Offset, uint Length);

/// <summary>The NVMe/TCP PDUs as pure functions over spans (NVMe/TCP transport
/// specification 1.0, section 3.6; the layouts of Linux's include/linux/nvme-tcp.h): each
/// writer fills a caller's buffer and returns the bytes written; each reader checks what the
/// specification fixes (header length, PDU length, digest flags, offsets) and answers 0 or a
/// negative errno with a message that says which field is wrong. Nothing here allocates or
/// keeps state: the fuzzer feeds it arbitrary bytes.</summary>
internal static class NvmeTcpPdu
{
    public const int CommonHeaderBytes = 8;
    public const int ICBytes = 128;            // ICReq and ICResp: header only, 128 bytes
    public const int CapsuleCmdHeaderBytes = 72; // common header + 64-byte SQE
    public const int CapsuleRespHeaderBytes = 24; // common header + 16-byte CQE
    public const int DataHeaderBytes = 24;     // H2CData, C2HData, R2T
    public const int TermReqHeaderBytes = 24;
    public const int DigestBytes = 4;
    /// <summary>The longest header a host receives (ICResp) plus its digest.</summary>
    public const int MaxHeaderBytes = ICBytes + DigestBytes;
    /// <summary>A TermReq carries at most this much of the offending PDU (spec: 152 bytes C2H).</summary>
    public const int MaxTermReqBytes = TermReqHeaderBytes + 152;

    public const byte FlagHeaderDigest = 1 << 0;
    public const byte FlagDataDigest = 1 << 1;
    public const byte FlagDataLast = 1 << 2;
    public const byte FlagDataSuccess = 1 << 3;

    /// <summary>ICReq/ICResp digest field bits.</summary>
    public const byte DigestHeaderEnable = 1 << 0;
    public const byte DigestDataEnable = 1 << 1;

    /// <summary>TermReq fatal error status values.</summary>
    public const ushort FesInvalidHeaderField = 0x01;
    public const ushort FesPduSequenceError = 0x02;
    public const ushort FesHeaderDigestError = 0x03;
    public const ushort FesDataOutOfRange = 0x04;
    public const ushort FesDataLimitExceeded = 0x05;
    public const ushort FesUnsupportedParameter = 0x06;

    /// <summary>SGL descriptor identifiers (byte 15): data block with an offset into the
    /// capsule (in-capsule data), and the transport's own data block (data in
    /// H2CData/C2HData PDUs).</summary>
    public const byte SglDataBlockOffset = 0x01;
    public const byte SglTransportDataBlock = 0x5A;
    /// <summary>PSDT = 01b in the command's flags byte: the data pointer is an SGL.</summary>
    public const byte CommandFlagsSgl = 0x40;

    // ------------------------------------------------------------------ common header

    public static void WriteCommonHeader(Span<byte> b, NvmeTcpPduType type, byte flags, int hlen, int pdo,
        uint plen)
    {
        b[0] = (byte)type;
        b[1] = flags;
        b[2] = (byte)hlen;
        b[3] = (byte)pdo;
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], plen);
    }

    /// <summary>The common header of the first 8 bytes (which must be there).</summary>
    public static NvmeTcpHeader ReadCommonHeader(ReadOnlySpan<byte> b) =>
        new((NvmeTcpPduType)b[0], b[1], b[2], b[3], BinaryPrimitives.ReadUInt32LittleEndian(b[4..]));

    /// <summary>The header's expected length for a PDU a host receives, or 0 for a type a
    /// host never receives.</summary>
    public static int HostReceivedHeaderLength(NvmeTcpPduType type) => type switch
    {
        NvmeTcpPduType.ICResp => ICBytes,
        NvmeTcpPduType.C2HTermReq => TermReqHeaderBytes,
        NvmeTcpPduType.CapsuleResp => CapsuleRespHeaderBytes,
        NvmeTcpPduType.C2HData => DataHeaderBytes,
        NvmeTcpPduType.R2T => DataHeaderBytes,
        _ => 0,
    };

    /// <summary>Checks a received common header against the specification and the digests
    /// the connection negotiated (<paramref name="headerDigest"/> only after ICResp): type,
    /// header length, PDU data offset and PDU length. On success <paramref name="headerBytes"/>
    /// is what to read before the PDU's data (header, its digest, padding up to PDO) and
    /// <paramref name="dataBytes"/> the data that follows (without its digest).</summary>
    public static int CheckReceived(in NvmeTcpHeader h, bool headerDigest, bool dataDigest, out int headerBytes,
        out int dataBytes)
    {
        headerBytes = 0;
        dataBytes = 0;
        int expect = HostReceivedHeaderLength(h.Type);
        if (expect == 0)
        {
            return LastError.Set(Errno.EPROTO,
                $"NVMe/TCP: unexpected PDU type 0x{(byte)h.Type:x2} from the controller");
        }
        if (h.Hlen != expect)
        {
            return LastError.Set(Errno.EPROTO,
                $"NVMe/TCP: {h.Type} PDU with header length {h.Hlen} (must be {expect})");
        }
        if (h.Type is NvmeTcpPduType.ICResp or NvmeTcpPduType.C2HTermReq)
        {
            // No digests on these (they come before or outside the negotiation).
            if (h.Type == NvmeTcpPduType.ICResp && h.Plen != ICBytes)
            {
                return LastError.Set(Errno.EPROTO, $"NVMe/TCP: ICResp with PDU length {h.Plen} (must be 128)");
            }
            if (h.Type == NvmeTcpPduType.C2HTermReq && (h.Plen < TermReqHeaderBytes || h.Plen > MaxTermReqBytes))
            {
                return LastError.Set(Errno.EPROTO, $"NVMe/TCP: C2HTermReq with PDU length {h.Plen}");
            }
            headerBytes = h.Hlen;
            dataBytes = (int)h.Plen - h.Hlen; // a TermReq's copy of the offending header
            return 0;
        }
        if (((h.Flags & FlagHeaderDigest) != 0) != headerDigest)
        {
            return LastError.Set(Errno.EPROTO, $"NVMe/TCP: {h.Type} PDU header digest flag " +
                $"{((h.Flags & FlagHeaderDigest) != 0 ? "set" : "clear")}, but header digests are " +
                $"{(headerDigest ? "on" : "off")}");
        }
        int hd = headerDigest ? DigestBytes : 0;
        if (h.Type != NvmeTcpPduType.C2HData)
        {
            if (h.Plen != (uint)(h.Hlen + hd) || h.Pdo != 0 || (h.Flags & FlagDataDigest) != 0)
            {
                return LastError.Set(Errno.EPROTO,
                    $"NVMe/TCP: {h.Type} PDU with PDU length {h.Plen}, data offset {h.Pdo}, flags 0x{h.Flags:x2} " +
                    $"(must be {h.Hlen + hd}, 0, no data digest)");
            }
            headerBytes = h.Hlen + hd;
            return 0;
        }
        if (((h.Flags & FlagDataDigest) != 0) != dataDigest)
        {
            return LastError.Set(Errno.EPROTO, $"NVMe/TCP: C2HData data digest flag " +
                $"{((h.Flags & FlagDataDigest) != 0 ? "set" : "clear")}, but data digests are " +
                $"{(dataDigest ? "on" : "off")}");
        }
        if ((h.Flags & FlagDataSuccess) != 0 && (h.Flags & FlagDataLast) == 0)
        {
            return LastError.Set(Errno.EPROTO, "NVMe/TCP: C2HData with SUCCESS but not LAST_PDU");
        }
        int dd = dataDigest ? DigestBytes : 0;
        if (h.Pdo < h.Hlen + hd || h.Plen < (uint)(h.Pdo + dd) ||
            h.Plen > int.MaxValue)
        {
            return LastError.Set(Errno.EPROTO,
                $"NVMe/TCP: C2HData with data offset {h.Pdo} and PDU length {h.Plen} (header {h.Hlen + hd} bytes)");
        }
        headerBytes = h.Pdo;
        dataBytes = (int)(h.Plen - h.Pdo - (uint)dd);
        return 0;
    }

    // ------------------------------------------------------------------ digests

    /// <summary>The header digest: CRC-32C of the <paramref name="hlen"/> header bytes.</summary>
    public static uint HeaderDigest(ReadOnlySpan<byte> header, int hlen) => Crc32c.Compute(header[..hlen]);

    /// <summary>Appends the header digest after the header; returns hlen + 4.</summary>
    public static int WriteHeaderDigest(Span<byte> b, int hlen)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b[hlen..], HeaderDigest(b, hlen));
        return hlen + DigestBytes;
    }

    /// <summary>Whether the 4 bytes after the header are its CRC-32C.</summary>
    public static bool HeaderDigestMatches(ReadOnlySpan<byte> b, int hlen) =>
        BinaryPrimitives.ReadUInt32LittleEndian(b[hlen..]) == HeaderDigest(b, hlen);

    // ------------------------------------------------------------------ ICReq / ICResp

    /// <summary>ICReq: PFV 0, host PDU data alignment <paramref name="hpda"/>, the digests the
    /// host asks for, MAXR2T (0's based: 0 = one outstanding R2T per command).</summary>
    public static int WriteICReq(Span<byte> b, byte hpda, bool headerDigest, bool dataDigest, uint maxR2T)
    {
        b[..ICBytes].Clear();
        WriteCommonHeader(b, NvmeTcpPduType.ICReq, 0, ICBytes, 0, ICBytes);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], 0); // PFV
        b[10] = hpda;
        b[11] = (byte)((headerDigest ? DigestHeaderEnable : 0) | (dataDigest ? DigestDataEnable : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], maxR2T);
        return ICBytes;
    }

    /// <summary>Reads a whole ICResp (128 bytes, common header checked already) and checks
    /// what the host requires: PFV 0, CPDA 0 (no padding before data: what the host asks
    /// for by HPDA 0 is its own affair), MAXH2CDATA of at least 4096 and a multiple of 4,
    /// and no digest the host did not ask for.</summary>
    public static int ReadICResp(ReadOnlySpan<byte> b, bool askedHeaderDigest, bool askedDataDigest,
        out NvmeTcpICResp resp)
    {
        resp = new NvmeTcpICResp(BinaryPrimitives.ReadUInt16LittleEndian(b[8..]), b[10],
            (b[11] & DigestHeaderEnable) != 0, (b[11] & DigestDataEnable) != 0,
            BinaryPrimitives.ReadUInt32LittleEndian(b[12..]));
        if (resp.Pfv != 0)
        {
            return LastError.Set(Errno.EPROTO,
                $"NVMe/TCP: ICResp with PDU format version {resp.Pfv} (only 0 is known)");
        }
        if (resp.Cpda != 0)
        {
            return LastError.Set(Errno.ENOTSUP,
                $"NVMe/TCP: the controller wants data aligned at {(resp.Cpda + 1) * 4} bytes (CPDA {resp.Cpda}); " +
                "only CPDA 0 is supported");
        }
        if (resp.MaxH2CData < 4096 || resp.MaxH2CData % 4 != 0)
        {
            return LastError.Set(Errno.EPROTO,
                $"NVMe/TCP: ICResp MAXH2CDATA {resp.MaxH2CData} (must be at least 4096 and a multiple of 4)");
        }
        if ((resp.HeaderDigest && !askedHeaderDigest) || (resp.DataDigest && !askedDataDigest))
        {
            return LastError.Set(Errno.EPROTO, "NVMe/TCP: ICResp enables a digest the host did not ask for");
        }
        return 0;
    }

    /// <summary>ICResp, as a target writes it (tests and the loopback peer).</summary>
    public static int WriteICResp(Span<byte> b, byte cpda, bool headerDigest, bool dataDigest, uint maxH2CData)
    {
        b[..ICBytes].Clear();
        WriteCommonHeader(b, NvmeTcpPduType.ICResp, 0, ICBytes, 0, ICBytes);
        b[10] = cpda;
        b[11] = (byte)((headerDigest ? DigestHeaderEnable : 0) | (dataDigest ? DigestDataEnable : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], maxH2CData);
        return ICBytes;
    }

    // ------------------------------------------------------------------ capsules

    /// <summary>A command capsule's header (and its digest): the SQE, and
    /// <paramref name="inCapsuleBytes"/> of data to follow it (PDO right after the header:
    /// CPDA 0), with its digest when <paramref name="dataDigest"/>. Returns the header's
    /// bytes (72, or 76 with a header digest); the data and data digest go after it.</summary>
    public static int WriteCapsuleCmd(Span<byte> b, in NvmeCommand cmd, int inCapsuleBytes, bool headerDigest,
        bool dataDigest)
    {
        int hd = headerDigest ? DigestBytes : 0;
        int dd = dataDigest && inCapsuleBytes > 0 ? DigestBytes : 0;
        int pdo = inCapsuleBytes > 0 ? CapsuleCmdHeaderBytes + hd : 0;
        byte flags = (byte)((headerDigest ? FlagHeaderDigest : 0) | (dd != 0 ? FlagDataDigest : 0));
        WriteCommonHeader(b, NvmeTcpPduType.CapsuleCmd, flags, CapsuleCmdHeaderBytes, pdo,
            (uint)(CapsuleCmdHeaderBytes + hd + inCapsuleBytes + dd));
        System.Runtime.InteropServices.MemoryMarshal.Write(b[8..], in cmd);
        return headerDigest ? WriteHeaderDigest(b, CapsuleCmdHeaderBytes) : CapsuleCmdHeaderBytes;
    }

    /// <summary>The SQE of a command capsule (tests and the loopback peer).</summary>
    public static NvmeCommand ReadCapsuleCmd(ReadOnlySpan<byte> b) =>
        System.Runtime.InteropServices.MemoryMarshal.Read<NvmeCommand>(b[8..]);

    /// <summary>The CQE of a response capsule (header checked already).</summary>
    public static NvmeCompletion ReadCapsuleResp(ReadOnlySpan<byte> b) =>
        System.Runtime.InteropServices.MemoryMarshal.Read<NvmeCompletion>(b[8..]);

    /// <summary>A response capsule, as a target writes it (tests and the loopback peer).</summary>
    public static int WriteCapsuleResp(Span<byte> b, in NvmeCompletion cpl, bool headerDigest)
    {
        int hd = headerDigest ? DigestBytes : 0;
        WriteCommonHeader(b, NvmeTcpPduType.CapsuleResp, headerDigest ? FlagHeaderDigest : (byte)0,
            CapsuleRespHeaderBytes, 0, (uint)(CapsuleRespHeaderBytes + hd));
        System.Runtime.InteropServices.MemoryMarshal.Write(b[8..], in cpl);
        return headerDigest ? WriteHeaderDigest(b, CapsuleRespHeaderBytes) : CapsuleRespHeaderBytes;
    }

    /// <summary>An SGL descriptor in the command's data pointer (bytes 24-39): in-capsule
    /// data at offset 0, or a transport data block of <paramref name="length"/> bytes.</summary>
    public static void SetSgl(ref NvmeCommand cmd, uint length, bool inCapsule)
    {
        cmd.Flags = (byte)((cmd.Flags & 0x3F) | CommandFlagsSgl);
        cmd.Prp1 = 0; // address: the offset into the capsule (ICDOFF 0), or none
        cmd.Prp2 = length | (ulong)(inCapsule ? SglDataBlockOffset : SglTransportDataBlock) << 56;
    }

    // ------------------------------------------------------------------ data PDUs

    /// <summary>The 16 bytes after the common header of an H2CData, C2HData or R2T PDU.</summary>
    public static NvmeTcpDataFields ReadDataFields(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt16LittleEndian(b[8..]), BinaryPrimitives.ReadUInt16LittleEndian(b[10..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[12..]), BinaryPrimitives.ReadUInt32LittleEndian(b[16..]));

    private static void WriteDataFields(Span<byte> b, in NvmeTcpDataFields f)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], f.Cid);
        BinaryPrimitives.WriteUInt16LittleEndian(b[10..], f.Ttag);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], f.Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], f.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], 0);
    }

    /// <summary>An H2CData header for <paramref name="f"/>.Length bytes at f.Offset (the
    /// data follows right after the header: PDO = hlen + digest).</summary>
    public static int WriteH2CData(Span<byte> b, in NvmeTcpDataFields f, bool last, bool headerDigest,
        bool dataDigest) =>
        WriteDataPdu(b, NvmeTcpPduType.H2CData, f, (byte)(last ? FlagDataLast : 0), headerDigest, dataDigest);

    /// <summary>A C2HData header, as a target writes it (tests and the loopback peer).</summary>
    public static int WriteC2HData(Span<byte> b, in NvmeTcpDataFields f, bool last, bool success,
        bool headerDigest, bool dataDigest) =>
        WriteDataPdu(b, NvmeTcpPduType.C2HData, f,
            (byte)((last ? FlagDataLast : 0) | (success ? FlagDataSuccess : 0)), headerDigest, dataDigest);

    private static int WriteDataPdu(Span<byte> b, NvmeTcpPduType type, in NvmeTcpDataFields f, byte flags,
        bool headerDigest, bool dataDigest)
    {
        int hd = headerDigest ? DigestBytes : 0;
        int dd = dataDigest ? DigestBytes : 0;
        flags |= (byte)((headerDigest ? FlagHeaderDigest : 0) | (dataDigest ? FlagDataDigest : 0));
        WriteCommonHeader(b, type, flags, DataHeaderBytes, DataHeaderBytes + hd,
            (uint)(DataHeaderBytes + hd) + f.Length + (uint)dd);
        WriteDataFields(b, f);
        return headerDigest ? WriteHeaderDigest(b, DataHeaderBytes) : DataHeaderBytes;
    }

    /// <summary>An R2T, as a target writes it (tests and the loopback peer).</summary>
    public static int WriteR2T(Span<byte> b, in NvmeTcpDataFields f, bool headerDigest)
    {
        int hd = headerDigest ? DigestBytes : 0;
        WriteCommonHeader(b, NvmeTcpPduType.R2T, headerDigest ? FlagHeaderDigest : (byte)0, DataHeaderBytes, 0,
            (uint)(DataHeaderBytes + hd));
        WriteDataFields(b, f);
        return headerDigest ? WriteHeaderDigest(b, DataHeaderBytes) : DataHeaderBytes;
    }

    // ------------------------------------------------------------------ termination

    /// <summary>An H2CTermReq (the host ends the connection): fatal error status, field
    /// information, and up to 128 bytes of the PDU that caused it.</summary>
    public static int WriteH2CTermReq(Span<byte> b, ushort fes, uint fei, ReadOnlySpan<byte> offending)
    {
        int copy = Math.Min(offending.Length, 128);
        b[..TermReqHeaderBytes].Clear();
        WriteCommonHeader(b, NvmeTcpPduType.H2CTermReq, 0, TermReqHeaderBytes, 0, (uint)(TermReqHeaderBytes + copy));
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], fes);
        BinaryPrimitives.WriteUInt32LittleEndian(b[10..], fei);
        offending[..copy].CopyTo(b[TermReqHeaderBytes..]);
        return TermReqHeaderBytes + copy;
    }

    /// <summary>A C2HTermReq's fatal error status and field information.</summary>
    public static (ushort Fes, uint Fei) ReadTermReq(ReadOnlySpan<byte> b) =>
        (BinaryPrimitives.ReadUInt16LittleEndian(b[8..]), BinaryPrimitives.ReadUInt32LittleEndian(b[10..]));

    public static string FesName(ushort fes) => fes switch
    {
        FesInvalidHeaderField => "invalid PDU header field",
        FesPduSequenceError => "PDU sequence error",
        FesHeaderDigestError => "header digest error",
        FesDataOutOfRange => "data transfer out of range",
        FesDataLimitExceeded => "R2T or data transfer limit exceeded",
        FesUnsupportedParameter => "unsupported parameter",
        _ => $"fatal error status 0x{fes:x}",
    };
}
