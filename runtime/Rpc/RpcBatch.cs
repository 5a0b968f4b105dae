using System;
using System.Buffers;

namespace NativeBdev.Rpc;

/// <summary>A batch request's replies, collected in the batch's order and sent as one array
/// once every call has answered; nothing is sent when every member was a notification
/// (JSON-RPC 2.0, section 6).</summary>
internal sealed class RpcBatch
{
    private readonly byte[]?[] _replies;
    private readonly Action<byte[]?> _send;
    private int _left;

    public RpcBatch(int count, Action<byte[]?> send)
    {
        _replies = new byte[]?[count];
        _left = count;
        _send = send;
    }

    public Action<byte[]?> Slot(int i) => bytes =>
    {
        _replies[i] = bytes;
        if (System.Threading.Interlocked.Decrement(ref _left) == 0)
        {
            _send(Join());
        }
    };

    private byte[]? Join()
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (byte[]? r in _replies)
        {
            if (r == null)
            {
                continue;
            }
            buffer.Write(buffer.WrittenCount == 0 ? "["u8 : ","u8);
            buffer.Write(r);
        }
        if (buffer.WrittenCount == 0)
        {
            return null;
        }
        buffer.Write("]"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
