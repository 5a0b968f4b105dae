using System;
using System.Buffers.Binary;

namespace NativeBdev.Nbd;

/// <summary>How far a parser got: a whole message, too few bytes yet, or bytes no client
/// may send (which end the connection).</summary>
internal enum NbdParse
{
    Ok,
    NeedMore,
    Malformed,
}

/// <summary>A transmission request as it came off the wire.</summary>
internal readonly record struct NbdRequest(ushort Flags, ushort Type, ulong Cookie, ulong Offset, uint Length);

/// <summary>The protocol's messages as pure functions over byte spans: parsers that never
/// read past what they are given and writers that fill a span the caller sized. No state,
/// no allocation, nothing about sockets: what the unit tests and fuzzers call directly.</summary>
internal static class NbdWire
{
    public const int GreetingBytes = 18;
    public const int OptionHeaderBytes = 16;
    public const int OptionReplyHeaderBytes = 20;

    /// <summary>The server's first 18 bytes: NBDMAGIC, IHAVEOPT, handshake flags.</summary>
    public static void WriteGreeting(Span<byte> dst)
    {
        BinaryPrimitives.WriteUInt64BigEndian(dst, NbdProtocol.NbdMagic);
        BinaryPrimitives.WriteUInt64BigEndian(dst[8..], NbdProtocol.OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(dst[16..],
            NbdProtocol.FlagFixedNewstyle | NbdProtocol.FlagNoZeroes);
    }

    /// <summary>The client's 32-bit flags; a flag we did not offer is malformed (the protocol
    /// says the server closes then).</summary>
    public static NbdParse ParseClientFlags(ReadOnlySpan<byte> s, out uint flags)
    {
        flags = 0;
        if (s.Length < 4)
        {
            return NbdParse.NeedMore;
        }
        flags = BinaryPrimitives.ReadUInt32BigEndian(s);
        const uint known = NbdProtocol.ClientFlagFixedNewstyle | NbdProtocol.ClientFlagNoZeroes;
        return (flags & ~known) != 0 ? NbdParse.Malformed : NbdParse.Ok;
    }

    /// <summary>IHAVEOPT, option, data length (the data follows).</summary>
    public static NbdParse ParseOptionHeader(ReadOnlySpan<byte> s, out uint option, out uint length)
    {
        option = 0;
        length = 0;
        if (s.Length < OptionHeaderBytes)
        {
            return NbdParse.NeedMore;
        }
        if (BinaryPrimitives.ReadUInt64BigEndian(s) != NbdProtocol.OptionMagic)
        {
            return NbdParse.Malformed;
        }
        option = BinaryPrimitives.ReadUInt32BigEndian(s[8..]);
        length = BinaryPrimitives.ReadUInt32BigEndian(s[12..]);
        return NbdParse.Ok;
    }

    /// <summary>NBD_OPT_INFO/GO data: name length, name, count of info requests, the
    /// requests (16 bits each). False when the lengths do not add up to the data.</summary>
    public static bool ParseInfoRequest(ReadOnlySpan<byte> data, out ReadOnlySpan<byte> name,
        out ReadOnlySpan<byte> infos)
    {
        name = default;
        infos = default;
        if (data.Length < 6)
        {
            return false;
        }
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > (uint)data.Length - 6 || nameLength > NbdProtocol.MaxStringBytes)
        {
            return false;
        }
        name = data.Slice(4, (int)nameLength);
        ReadOnlySpan<byte> rest = data[(4 + (int)nameLength)..];
        int count = BinaryPrimitives.ReadUInt16BigEndian(rest);
        if (rest.Length != 2 + 2 * count)
        {
            return false;
        }
        infos = rest[2..];
        return true;
    }

    /// <summary>Whether an info request list holds <paramref name="info"/>.</summary>
    public static bool Requests(ReadOnlySpan<byte> infos, ushort info)
    {
        for (int i = 0; i + 1 < infos.Length; i += 2)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(infos[i..]) == info)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>NBD_OPT_LIST/SET_META_CONTEXT data: export name, query count, then each
    /// query as length and string. False unless every length lies inside the data and the
    /// queries fill it exactly.</summary>
    public static bool ParseMetaContextRequest(ReadOnlySpan<byte> data, out ReadOnlySpan<byte> name,
        out ReadOnlySpan<byte> queries, out uint count)
    {
        name = default;
        queries = default;
        count = 0;
        if (data.Length < 8)
        {
            return false;
        }
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > (uint)data.Length - 8 || nameLength > NbdProtocol.MaxStringBytes)
        {
            return false;
        }
        name = data.Slice(4, (int)nameLength);
        ReadOnlySpan<byte> rest = data[(4 + (int)nameLength)..];
        count = BinaryPrimitives.ReadUInt32BigEndian(rest);
        queries = rest[4..];
        ReadOnlySpan<byte> walk = queries;
        for (uint i = 0; i < count; i++)
        {
            if (!NextQuery(ref walk, out _))
            {
                return false;
            }
        }
        return walk.IsEmpty;
    }

    /// <summary>Takes the next query off <paramref name="queries"/> (as checked by
    /// <see cref="ParseMetaContextRequest"/>).</summary>
    public static bool NextQuery(ref ReadOnlySpan<byte> queries, out ReadOnlySpan<byte> query)
    {
        query = default;
        if (queries.Length < 4)
        {
            return false;
        }
        uint length = BinaryPrimitives.ReadUInt32BigEndian(queries);
        if (length > (uint)queries.Length - 4 || length > NbdProtocol.MaxStringBytes)
        {
            return false;
        }
        query = queries.Slice(4, (int)length);
        queries = queries[(4 + (int)length)..];
        return true;
    }

    /// <summary>The 28-byte request header. A wrong magic is malformed: nothing after it can
    /// be framed, so the connection ends.</summary>
    public static NbdParse ParseRequest(ReadOnlySpan<byte> s, out NbdRequest request)
    {
        request = default;
        if (s.Length < NbdProtocol.RequestHeaderBytes)
        {
            return NbdParse.NeedMore;
        }
        if (BinaryPrimitives.ReadUInt32BigEndian(s) != NbdProtocol.RequestMagic)
        {
            return NbdParse.Malformed;
        }
        request = new NbdRequest(
            BinaryPrimitives.ReadUInt16BigEndian(s[4..]),
            BinaryPrimitives.ReadUInt16BigEndian(s[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(s[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(s[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(s[24..]));
        return NbdParse.Ok;
    }

    /// <summary>An option reply's header; <paramref name="length"/> bytes of data follow.</summary>
    public static void WriteOptionReplyHeader(Span<byte> dst, uint option, uint type, uint length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(dst, NbdProtocol.OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(dst[8..], option);
        BinaryPrimitives.WriteUInt32BigEndian(dst[12..], type);
        BinaryPrimitives.WriteUInt32BigEndian(dst[16..], length);
    }

    /// <summary>Magic, error, cookie: 16 bytes (a successful read's data follows).</summary>
    public static void WriteSimpleReply(Span<byte> dst, uint error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(dst, NbdProtocol.SimpleReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(dst[4..], error);
        BinaryPrimitives.WriteUInt64BigEndian(dst[8..], cookie);
    }

    /// <summary>A structured reply chunk's 20-byte header; <paramref name="length"/> bytes
    /// of payload follow.</summary>
    public static void WriteChunkHeader(Span<byte> dst, ushort flags, ushort type, ulong cookie, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(dst, NbdProtocol.StructuredReplyMagic);
        BinaryPrimitives.WriteUInt16BigEndian(dst[4..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(dst[6..], type);
        BinaryPrimitives.WriteUInt64BigEndian(dst[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(dst[16..], length);
    }

    /// <summary>The reply to a request, without a read's data: simple (16 bytes) or one
    /// final structured chunk (an error chunk without a message: 26 bytes; a read's
    /// OFFSET_DATA header: 28; NONE: 20). Returns the bytes written.</summary>
    public static int WriteReply(Span<byte> dst, bool structured, in NbdRequest r, uint error)
    {
        if (!structured)
        {
            WriteSimpleReply(dst, error, r.Cookie);
            return NbdProtocol.SimpleReplyBytes;
        }
        if (error != 0)
        {
            WriteChunkHeader(dst, NbdProtocol.ReplyFlagDone, NbdProtocol.ReplyTypeError, r.Cookie, 6);
            BinaryPrimitives.WriteUInt32BigEndian(dst[20..], error);
            BinaryPrimitives.WriteUInt16BigEndian(dst[24..], 0);
            return 26;
        }
        if (r.Type == NbdProtocol.CmdRead)
        {
            WriteChunkHeader(dst, NbdProtocol.ReplyFlagDone, NbdProtocol.ReplyTypeOffsetData, r.Cookie,
                8 + r.Length);
            BinaryPrimitives.WriteUInt64BigEndian(dst[20..], r.Offset);
            return 28;
        }
        WriteChunkHeader(dst, NbdProtocol.ReplyFlagDone, NbdProtocol.ReplyTypeNone, r.Cookie, 0);
        return NbdProtocol.StructuredHeaderBytes;
    }

    /// <summary>The one BLOCK_STATUS chunk for base:allocation: one extent of
    /// <paramref name="extent"/> bytes with <paramref name="status"/>. 32 bytes.</summary>
    public static int WriteBlockStatus(Span<byte> dst, ulong cookie, uint contextId, uint extent, uint status)
    {
        WriteChunkHeader(dst, NbdProtocol.ReplyFlagDone, NbdProtocol.ReplyTypeBlockStatus, cookie, 12);
        BinaryPrimitives.WriteUInt32BigEndian(dst[20..], contextId);
        BinaryPrimitives.WriteUInt32BigEndian(dst[24..], extent);
        BinaryPrimitives.WriteUInt32BigEndian(dst[28..], status);
        return 32;
    }
}
