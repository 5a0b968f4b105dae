using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Text;

namespace NativeBdev.Nbd;

/// <summary>What one handshake step did.</summary>
internal enum NbdHandshakeStep
{
    /// <summary>The next message is not complete yet.</summary>
    NeedMore,
    /// <summary>One message was handled; its replies are in the output.</summary>
    Continue,
    /// <summary>An export was chosen (NBD_OPT_GO acknowledged or NBD_OPT_EXPORT_NAME
    /// answered): requests follow.</summary>
    Transmission,
    /// <summary>Send what is in the output, then close (NBD_OPT_ABORT, a malformed message,
    /// an unknown export for NBD_OPT_EXPORT_NAME).</summary>
    Close,
}

/// <summary>The fixed newstyle negotiation, server side, as a state machine over bytes:
/// <see cref="Step"/> takes the bytes received so far, handles at most one client message
/// and appends the replies to <see cref="Output"/>. No socket and no bdev here (the
/// <see cref="INbdExportCatalog"/> stands for them), so tests and fuzzers drive it directly.</summary>
internal sealed class NbdHandshake
{
    private readonly INbdExportCatalog _catalog;
    private bool _haveClientFlags;
    private bool _fixedNewstyle;
    private byte[]? _metaExport; // the export the last SET_META_CONTEXT selected base:allocation for

    public NbdHandshake(INbdExportCatalog catalog)
    {
        _catalog = catalog;
    }

    public ArrayBufferWriter<byte> Output { get; } = new(256);

    public bool NoZeroes { get; private set; }

    public bool Structured { get; private set; }

    /// <summary>After <see cref="NbdHandshakeStep.Transmission"/>: the export.</summary>
    public NbdExportView? Chosen { get; private set; }

    /// <summary>base:allocation was selected for the chosen export (BLOCK_STATUS allowed).</summary>
    public bool MetaContext { get; private set; }

    /// <summary>Why the last <see cref="NbdHandshakeStep.Close"/> happened, for the log.</summary>
    public string CloseReason { get; private set; } = "";

    public void WriteGreeting()
    {
        NbdWire.WriteGreeting(Output.GetSpan(NbdWire.GreetingBytes));
        Output.Advance(NbdWire.GreetingBytes);
    }

    public NbdHandshakeStep Step(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        if (!_haveClientFlags)
        {
            NbdParse p = NbdWire.ParseClientFlags(input, out uint flags);
            if (p == NbdParse.NeedMore)
            {
                return NbdHandshakeStep.NeedMore;
            }
            consumed = 4;
            if (p == NbdParse.Malformed)
            {
                return Close($"client flags 0x{flags:x} hold flags the server did not offer");
            }
            _haveClientFlags = true;
            _fixedNewstyle = (flags & NbdProtocol.ClientFlagFixedNewstyle) != 0;
            NoZeroes = (flags & NbdProtocol.ClientFlagNoZeroes) != 0;
            return NbdHandshakeStep.Continue;
        }
        NbdParse h = NbdWire.ParseOptionHeader(input, out uint option, out uint length);
        if (h == NbdParse.NeedMore)
        {
            return NbdHandshakeStep.NeedMore;
        }
        if (h == NbdParse.Malformed)
        {
            consumed = NbdWire.OptionHeaderBytes;
            return Close("an option without the IHAVEOPT magic");
        }
        if (length > NbdProtocol.MaxOptionBytes)
        {
            consumed = NbdWire.OptionHeaderBytes;
            Reply(option, NbdProtocol.RepErrTooBig,
                $"option data of {length} bytes (at most {NbdProtocol.MaxOptionBytes})");
            return Close($"option {option} with {length} bytes of data");
        }
        if (input.Length - NbdWire.OptionHeaderBytes < length)
        {
            return NbdHandshakeStep.NeedMore;
        }
        consumed = NbdWire.OptionHeaderBytes + (int)length;
        ReadOnlySpan<byte> data = input.Slice(NbdWire.OptionHeaderBytes, (int)length);
        if (!_fixedNewstyle && option != NbdProtocol.OptExportName)
        {
            return Close($"option {option} from a client that did not ask for fixed newstyle");
        }
        return Option(option, data);
    }

    private NbdHandshakeStep Option(uint option, ReadOnlySpan<byte> data)
    {
        switch (option)
        {
            case NbdProtocol.OptExportName:
                return ExportName(data);
            case NbdProtocol.OptAbort:
                Reply(option, NbdProtocol.RepAck);
                return Close("the client aborted the negotiation");
            case NbdProtocol.OptList:
                return List(data);
            case NbdProtocol.OptInfo:
            case NbdProtocol.OptGo:
                return InfoOrGo(option, data);
            case NbdProtocol.OptStructuredReply:
                if (data.Length != 0)
                {
                    return Invalid(option, "NBD_OPT_STRUCTURED_REPLY takes no data");
                }
                Structured = true;
                Reply(option, NbdProtocol.RepAck);
                return NbdHandshakeStep.Continue;
            case NbdProtocol.OptListMetaContext:
            case NbdProtocol.OptSetMetaContext:
                return MetaContextOption(option, data);
            default:
                Reply(option, NbdProtocol.RepErrUnsup, $"option {option} is not supported");
                return NbdHandshakeStep.Continue;
        }
    }

    private NbdHandshakeStep ExportName(ReadOnlySpan<byte> name)
    {
        NbdExportView? e = name.Length <= NbdProtocol.MaxStringBytes ? _catalog.Find(name) : null;
        if (e == null)
        {
            return Close($"NBD_OPT_EXPORT_NAME of an unknown export '{Text(name)}'");
        }
        string? refused = _catalog.Attach(e);
        if (refused != null)
        {
            return Close($"export '{Text(name)}': {refused}");
        }
        Span<byte> d = Output.GetSpan(134);
        BinaryPrimitives.WriteUInt64BigEndian(d, e.Geometry.SizeBytes);
        BinaryPrimitives.WriteUInt16BigEndian(d[8..], e.Geometry.Flags);
        int n = 10;
        if (!NoZeroes)
        {
            d.Slice(10, 124).Clear();
            n = 134;
        }
        Output.Advance(n);
        Chosen = e;
        MetaContext = false; // SET_META_CONTEXT counts only before NBD_OPT_GO
        return NbdHandshakeStep.Transmission;
    }

    private NbdHandshakeStep List(ReadOnlySpan<byte> data)
    {
        if (data.Length != 0)
        {
            return Invalid(NbdProtocol.OptList, "NBD_OPT_LIST takes no data");
        }
        var exports = new List<NbdExportView>();
        _catalog.List(exports);
        foreach (NbdExportView e in exports)
        {
            int length = 4 + e.Name.Length + e.Description.Length;
            NbdWire.WriteOptionReplyHeader(Output.GetSpan(NbdWire.OptionReplyHeaderBytes), NbdProtocol.OptList,
                NbdProtocol.RepServer, (uint)length);
            Output.Advance(NbdWire.OptionReplyHeaderBytes);
            Span<byte> d = Output.GetSpan(length);
            BinaryPrimitives.WriteUInt32BigEndian(d, (uint)e.Name.Length);
            e.Name.CopyTo(d[4..]);
            e.Description.CopyTo(d[(4 + e.Name.Length)..]);
            Output.Advance(length);
        }
        Reply(NbdProtocol.OptList, NbdProtocol.RepAck);
        return NbdHandshakeStep.Continue;
    }

    private NbdHandshakeStep InfoOrGo(uint option, ReadOnlySpan<byte> data)
    {
        if (!NbdWire.ParseInfoRequest(data, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> infos))
        {
            return Invalid(option, "the name and information request lengths do not match the option's length");
        }
        NbdExportView? e = _catalog.Find(name);
        if (e == null)
        {
            Reply(option, NbdProtocol.RepErrUnknown, $"no export named '{Text(name)}'");
            return NbdHandshakeStep.Continue;
        }
        if (option == NbdProtocol.OptGo)
        {
            string? refused = _catalog.Attach(e);
            if (refused != null)
            {
                Reply(option, NbdProtocol.RepErrUnknown, $"export '{Text(name)}': {refused}");
                return NbdHandshakeStep.Continue;
            }
        }
        NbdExportGeometry g = e.Geometry;
        Span<byte> d = Info(option, NbdProtocol.InfoExport, 10);
        BinaryPrimitives.WriteUInt64BigEndian(d, g.SizeBytes);
        BinaryPrimitives.WriteUInt16BigEndian(d[8..], g.Flags);
        Output.Advance(10);
        // Sent whether asked or not (a client ignores what it did not ask for): the limits
        // hold either way.
        d = Info(option, NbdProtocol.InfoBlockSize, 12);
        BinaryPrimitives.WriteUInt32BigEndian(d, g.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], g.PreferredBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], g.MaxPayloadBytes);
        Output.Advance(12);
        if (NbdWire.Requests(infos, NbdProtocol.InfoName))
        {
            e.Name.CopyTo(Info(option, NbdProtocol.InfoName, e.Name.Length));
            Output.Advance(e.Name.Length);
        }
        if (NbdWire.Requests(infos, NbdProtocol.InfoDescription) && e.Description.Length > 0)
        {
            e.Description.CopyTo(Info(option, NbdProtocol.InfoDescription, e.Description.Length));
            Output.Advance(e.Description.Length);
        }
        Reply(option, NbdProtocol.RepAck);
        if (option == NbdProtocol.OptInfo)
        {
            return NbdHandshakeStep.Continue;
        }
        Chosen = e;
        MetaContext = Structured && _metaExport != null && name.SequenceEqual(_metaExport);
        return NbdHandshakeStep.Transmission;
    }

    /// <summary>An NBD_REP_INFO header and its type; the caller writes and advances the rest.</summary>
    private Span<byte> Info(uint option, ushort type, int length)
    {
        NbdWire.WriteOptionReplyHeader(Output.GetSpan(NbdWire.OptionReplyHeaderBytes), option, NbdProtocol.RepInfo,
            (uint)(2 + length));
        Output.Advance(NbdWire.OptionReplyHeaderBytes);
        BinaryPrimitives.WriteUInt16BigEndian(Output.GetSpan(2), type);
        Output.Advance(2);
        return Output.GetSpan(Math.Max(length, 1))[..length];
    }

    private NbdHandshakeStep MetaContextOption(uint option, ReadOnlySpan<byte> data)
    {
        bool set = option == NbdProtocol.OptSetMetaContext;
        if (set)
        {
            _metaExport = null; // a SET replaces the selection, even when it fails
            if (!Structured)
            {
                return Invalid(option, "NBD_OPT_SET_META_CONTEXT needs structured replies first");
            }
        }
        if (!NbdWire.ParseMetaContextRequest(data, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> queries,
                out uint count))
        {
            return Invalid(option, "the export name and query lengths do not match the option's length");
        }
        if (_catalog.Find(name) == null)
        {
            Reply(option, NbdProtocol.RepErrUnknown, $"no export named '{Text(name)}'");
            return NbdHandshakeStep.Continue;
        }
        bool match = !set && count == 0; // LIST with no query: everything there is
        for (uint i = 0; i < count; i++)
        {
            NbdWire.NextQuery(ref queries, out ReadOnlySpan<byte> q);
            match |= q.SequenceEqual("base:allocation"u8) || (!set && q.SequenceEqual("base:"u8));
        }
        if (match)
        {
            uint id = set ? NbdProtocol.BaseAllocationId : 0; // LIST's ids are reserved, zero
            int length = 4 + NbdProtocol.BaseAllocation.Length;
            NbdWire.WriteOptionReplyHeader(Output.GetSpan(NbdWire.OptionReplyHeaderBytes), option,
                NbdProtocol.RepMetaContext, (uint)length);
            Output.Advance(NbdWire.OptionReplyHeaderBytes);
            Span<byte> d = Output.GetSpan(length);
            BinaryPrimitives.WriteUInt32BigEndian(d, id);
            "base:allocation"u8.CopyTo(d[4..]);
            Output.Advance(length);
            if (set)
            {
                _metaExport = name.ToArray();
            }
        }
        Reply(option, NbdProtocol.RepAck);
        return NbdHandshakeStep.Continue;
    }

    private NbdHandshakeStep Invalid(uint option, string message)
    {
        Reply(option, NbdProtocol.RepErrInvalid, message);
        return NbdHandshakeStep.Continue;
    }

    private void Reply(uint option, uint type, string? message = null)
    {
        int length = message == null ? 0 : Encoding.UTF8.GetByteCount(message);
        NbdWire.WriteOptionReplyHeader(Output.GetSpan(NbdWire.OptionReplyHeaderBytes), option, type, (uint)length);
        Output.Advance(NbdWire.OptionReplyHeaderBytes);
        if (length > 0)
        {
            Encoding.UTF8.GetBytes(message, Output.GetSpan(length));
            Output.Advance(length);
        }
    }

    private NbdHandshakeStep Close(string reason)
    {
        CloseReason = reason;
        return NbdHandshakeStep.Close;
    }

    /// <summary>A name for messages: UTF-8 as far as it decodes, cut at 64 characters.</summary>
    private static string Text(ReadOnlySpan<byte> name)
    {
        string s = Encoding.UTF8.GetString(name[..Math.Min(name.Length, 256)]);
        return s.Length > 64 ? s[..64] + "..." : s;
    }
}
