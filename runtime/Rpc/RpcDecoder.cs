using System;

namespace NativeBdev.Rpc;

/// <summary>Splits a byte stream into top-level JSON values, as SPDK's rpc.py writes them:
/// pretty-printed objects (or batch arrays) one after another with no delimiter, arriving in
/// chunks of any size, a byte at a time included. A scanner that knows strings, escapes and
/// nesting depth finds where a value ends, resuming where the last chunk stopped (each byte
/// is looked at once); the value is then handed whole to the sink, which parses it.
/// Memory is one buffer of the request size limit, allocated here: a value that would not
/// fit is an error (SPDK's "request is too long" parse error), never a larger buffer.</summary>
internal sealed class RpcDecoder
{
    /// <summary>SPDK's receive buffer (SPDK_JSONRPC_RECV_BUF_SIZE): the largest request it
    /// can take.</summary>
    public const int DefaultMaxRequestBytes = 32 * 1024;

    /// <summary>Deeper nesting is refused before parsing (System.Text.Json's default limit).</summary>
    public const int MaxDepth = 64;

    private readonly byte[] _buf;
    private int _head;      // where the value being scanned starts (or whitespace before it)
    private int _len;       // bytes held
    private int _scan;      // next byte of _buf to look at
    private bool _started;  // a value began at _buf[_head]
    private int _depth;
    private bool _inString;
    private bool _escape;
    private bool _scalar;   // a top-level number or literal, ended by a delimiter

    public RpcDecoder(int maxRequestBytes = DefaultMaxRequestBytes)
    {
        if (maxRequestBytes < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(maxRequestBytes));
        }
        _buf = new byte[maxRequestBytes];
    }

    public int MaxRequestBytes => _buf.Length;

    /// <summary>Bytes of an incomplete value held until more arrive.</summary>
    public int Pending => _len - _head;

    public RpcDecodeStatus Status { get; private set; }

    /// <summary>Takes the next chunk; every value it completes goes to <paramref name="sink"/>
    /// in order. On an error the values before it have been delivered, the rest of the
    /// stream is dropped and the decoder stays closed.</summary>
    public RpcDecodeStatus Feed(ReadOnlySpan<byte> data, IRpcFrameSink sink)
    {
        if (Status != RpcDecodeStatus.Ok)
        {
            return RpcDecodeStatus.Closed;
        }
        while (true)
        {
            RpcDecodeStatus rc = ScanHeld(sink);
            if (rc != RpcDecodeStatus.Ok)
            {
                return Fail(rc);
            }
            if (data.IsEmpty)
            {
                return RpcDecodeStatus.Ok;
            }
            int room = _buf.Length - _len;
            if (room == 0)
            {
                return Fail(RpcDecodeStatus.TooLarge);
            }
            int n = Math.Min(room, data.Length);
            data[..n].CopyTo(_buf.AsSpan(_len));
            _len += n;
            data = data[n..];
        }
    }

    private RpcDecodeStatus Fail(RpcDecodeStatus rc)
    {
        Status = rc;
        _head = 0;
        _len = 0;
        _scan = 0;
        return rc;
    }

    /// <summary>Scans the bytes held, delivering each value that completes, then moves what
    /// is left of an incomplete value to the front (once per chunk, so a chunk costs time in
    /// proportion to its length, however many values or blanks it holds).</summary>
    private RpcDecodeStatus ScanHeld(IRpcFrameSink sink)
    {
        while (_scan < _len)
        {
            int end = Step(_buf[_scan], out RpcDecodeStatus rc);
            if (rc != RpcDecodeStatus.Ok)
            {
                return rc;
            }
            if (end < 0)
            {
                continue;
            }
            sink.OnFrame(_buf.AsSpan(_head, end - _head));
            _head = end;
            _scan = end;
            _started = false;
            _scalar = false;
        }
        int rest = _len - _head;
        _buf.AsSpan(_head, rest).CopyTo(_buf);
        _scan -= _head;
        _len = rest;
        _head = 0;
        return RpcDecodeStatus.Ok;
    }

    private static bool IsSpace(byte b) => b == ' ' || b == '\n' || b == '\r' || b == '\t';

    private static bool IsStructural(byte b) => b == '{' || b == '}' || b == '[' || b == ']' || b == ',' || b == ':';

    /// <summary>Looks at the byte at <see cref="_scan"/>. Returns the end (exclusive) of the
    /// value it completes, or -1.</summary>
    private int Step(byte b, out RpcDecodeStatus rc)
    {
        rc = RpcDecodeStatus.Ok;
        if (!_started)
        {
            if (IsSpace(b))
            {
                // Whitespace between values is dropped: it never fills the buffer.
                _head = ++_scan;
                return -1;
            }
            _started = true;
            _scan++;
            switch (b)
            {
                case (byte)'{' or (byte)'[':
                    _depth = 1;
                    return -1;
                case (byte)'"':
                    _inString = true;
                    return -1;
                case (byte)'}' or (byte)']' or (byte)',' or (byte)':':
                    rc = RpcDecodeStatus.Malformed;
                    return -1;
                default:
                    _scalar = true;
                    return -1;
            }
        }
        if (_inString)
        {
            _scan++;
            if (_escape)
            {
                _escape = false;
            }
            else if (b == '\\')
            {
                _escape = true;
            }
            else if (b == '"')
            {
                _inString = false;
                return _depth == 0 ? _scan : -1;
            }
            return -1;
        }
        if (_scalar)
        {
            // A top-level number or literal ends before the first delimiter, which stays
            // for the next value.
            if (IsSpace(b) || IsStructural(b) || b == '"')
            {
                return _scan;
            }
            _scan++;
            return -1;
        }
        _scan++;
        switch (b)
        {
            case (byte)'"':
                _inString = true;
                return -1;
            case (byte)'{' or (byte)'[':
                if (++_depth > MaxDepth)
                {
                    rc = RpcDecodeStatus.Malformed;
                }
                return -1;
            case (byte)'}' or (byte)']':
                return --_depth == 0 ? _scan : -1;
            default:
                return -1;
        }
    }
}
