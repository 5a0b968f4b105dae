using System;
using System.Buffers;
using System.Text.Json;

namespace NativeBdev.Rpc;

/// <summary>One client's byte stream in, replies out, with no transport: the socket layer
/// feeds <see cref="Receive"/> whatever it read and sends what <see cref="TakeOutput"/>
/// returns. Each reply is a compact JSON value followed by a newline, as spdk_tgt writes
/// them. A parse error (malformed JSON, invalid UTF-8, a request over the size limit) is
/// answered with -32700 "Parse error" and id null, and then the connection must be closed,
/// as SPDK closes it: a stream of JSON values has no safe point to start parsing again.</summary>
internal sealed class RpcConnection : IRpcFrameSink
{
    private static readonly JsonDocumentOptions s_parse = new() { MaxDepth = RpcDecoder.MaxDepth };

    private readonly RpcServer _server;
    private readonly RpcDecoder _decoder;
    private readonly ArrayBufferWriter<byte> _out = new();
    private readonly object _outLock = new(); // replies may complete on other threads
    private bool _failed;

    public RpcConnection(RpcServer server, int maxRequestBytes = RpcDecoder.DefaultMaxRequestBytes)
    {
        _server = server;
        _decoder = new RpcDecoder(maxRequestBytes);
    }

    /// <summary>True once a parse error was answered: send the output, then close.</summary>
    public bool MustClose => _failed;

    /// <summary>Bytes of an incomplete request held.</summary>
    public int Pending => _decoder.Pending;

    /// <summary>Takes bytes read from the client. Returns 0, or -1 when the connection must
    /// be closed (after sending the output, which then holds the parse error).</summary>
    public int Receive(ReadOnlySpan<byte> data)
    {
        if (_failed)
        {
            return -1;
        }
        RpcDecodeStatus rc = _decoder.Feed(data, this);
        if (rc != RpcDecodeStatus.Ok && !_failed)
        {
            ParseFailed();
        }
        return _failed ? -1 : 0;
    }

    /// <summary>The replies so far, and clears them.</summary>
    public byte[] TakeOutput()
    {
        lock (_outLock)
        {
            byte[] bytes = _out.WrittenSpan.ToArray();
            _out.ResetWrittenCount();
            return bytes;
        }
    }

    void IRpcFrameSink.OnFrame(ReadOnlySpan<byte> json)
    {
        if (_failed)
        {
            return; // what followed a parse error is never executed
        }
        // JsonDocument leaves strings unchecked until read (GetString would throw on a bad
        // sequence, in a handler): the whole value must be UTF-8, as SPDK's parser demands.
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            ParseFailed();
            return;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), s_parse);
        }
        catch (JsonException)
        {
            ParseFailed();
            return;
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
            {
                _server.Execute(root, Send);
                return;
            }
            int n = root.GetArrayLength();
            if (n == 0)
            {
                Send(RpcCall.ErrorReply(null, RpcError.InvalidRequest, RpcError.InvalidRequestMessage));
                return;
            }
            var batch = new RpcBatch(n, Send);
            int i = 0;
            foreach (JsonElement e in root.EnumerateArray())
            {
                _server.Execute(e, batch.Slot(i++));
            }
        }
    }

    private void ParseFailed()
    {
        _failed = true;
        Send(RpcCall.ErrorReply(null, RpcError.ParseError, RpcError.ParseErrorMessage));
    }

    private void Send(byte[]? reply)
    {
        if (reply == null)
        {
            return;
        }
        lock (_outLock)
        {
            _out.Write(reply);
            _out.Write("\n"u8);
        }
    }
}
