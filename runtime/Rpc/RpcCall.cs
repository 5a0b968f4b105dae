using System;
using System.Buffers;
using System.Text.Json;
using NativeBdev.Interop;

namespace NativeBdev.Rpc;

/// <summary>One request being answered. The handler replies exactly once, with
/// <see cref="Result"/>, <see cref="Error"/> or <see cref="Errno"/>, on the spot or later
/// from a completion callback; a second reply is a programming error. A notification (no
/// <c>id</c>) runs the same way but its reply is dropped, as JSON-RPC 2.0 asks.</summary>
internal sealed class RpcCall
{
    private readonly byte[]? _id; // the id's JSON text; null for a notification
    private readonly Action<RpcCall, byte[]?> _done;
    private bool _replied;

    internal RpcCall(string method, byte[]? id, Action<RpcCall, byte[]?> done)
    {
        Method = method;
        _id = id;
        _done = done;
    }

    public string Method { get; }

    public bool IsNotification => _id == null;

    public bool Replied => _replied;

    public void Result(Action<Utf8JsonWriter> writeResult) => Finish(Build(_id, w =>
    {
        w.WritePropertyName("result");
        writeResult(w);
    }));

    public void Result(bool value) => Result(w => w.WriteBooleanValue(value));

    public void Result(string value) => Result(w => w.WriteStringValue(value));

    public void Error(int code, string message) => Finish(Build(_id, w => WriteError(w, code, message)));

    /// <summary>A failed core call: the negative errno as the code, strerror's text as the
    /// message (what SPDK's handlers send with spdk_strerror).</summary>
    public void Errno(int rc)
    {
        if (rc >= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rc), $"{Method}: errno reply of {rc}");
        }
        Error(rc, Libc.StrError(-rc));
    }

    private void Finish(byte[] reply)
    {
        if (_replied)
        {
            throw new InvalidOperationException($"{Method}: replied twice");
        }
        _replied = true;
        _done(this, _id == null ? null : reply);
    }

    private static void WriteError(Utf8JsonWriter w, int code, string message)
    {
        w.WriteStartObject("error");
        w.WriteNumber("code", code);
        w.WriteString("message", message);
        w.WriteEndObject();
    }

    /// <summary>An error reply outside any call (parse errors, invalid requests), with
    /// <c>"id": null</c> when the request's id is unknown.</summary>
    internal static byte[] ErrorReply(byte[]? id, int code, string message) =>
        Build(id ?? "null"u8.ToArray(), w => WriteError(w, code, message));

    /// <summary>{"jsonrpc":"2.0","id":...,BODY}: SPDK's compact reply.</summary>
    private static byte[] Build(byte[]? id, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc", "2.0");
            w.WritePropertyName("id");
            if (id == null)
            {
                w.WriteNullValue();
            }
            else
            {
                w.WriteRawValue(id, skipInputValidation: true);
            }
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
