using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;

namespace NativeBdev.Rpc;

/// <summary>One RPC client on its socket: bytes read go to its <see cref="RpcConnection"/>,
/// replies go out as fast as the client takes them. Bounded both ways: the decoder refuses
/// a request over its size limit, and a client that stops reading while replies pile up
/// past <see cref="MaxPendingOutput"/> is disconnected.</summary>
internal sealed class RpcSocketConnection : ISocketHandler
{
    private const int ReadsPerPoll = 4;
    public const int MaxPendingOutput = 64 << 20;

    private readonly RpcSocketServer _server;
    private readonly RpcConnection _rpc;
    private NetSocket _socket = null!;
    private byte[] _out = [];
    private int _sent;
    private bool _closing;

    public RpcSocketConnection(RpcSocketServer server, NetSocket socket)
    {
        _server = server;
        _socket = socket;
        _rpc = new RpcConnection(server.Methods, server.MaxRequestBytes);
    }

    public bool IsClosed => _socket.IsClosed;

    /// <summary>Over the server's limit: closed on the server's next poll, nothing read.</summary>
    public void RefuseLater() => _closing = true;

    public void OnReadable(NetSocket socket)
    {
        Span<byte> buffer = _server.ReceiveBuffer;
        for (int i = 0; i < ReadsPerPoll && !_closing; i++)
        {
            int n = socket.Receive(buffer);
            if (n == -Errno.EAGAIN || n == -Errno.EINTR)
            {
                break;
            }
            if (n <= 0)
            {
                // End of stream or a reset: what is ready still goes out, then it closes.
                _closing = true;
                break;
            }
            if (_rpc.Receive(buffer[..n]) != 0)
            {
                _closing = true; // a parse error: its reply goes out, then the connection closes
            }
        }
        Flush();
    }

    public void OnWritable(NetSocket socket) => Flush();

    /// <summary>Sends what is ready; closes when closing and everything is sent.</summary>
    public void Flush()
    {
        if (_socket.IsClosed)
        {
            return;
        }
        while (true)
        {
            if (_sent == _out.Length)
            {
                _out = _rpc.TakeOutput();
                _sent = 0;
                if (_out.Length == 0)
                {
                    break;
                }
            }
            int n = _socket.Send(_out.AsSpan(_sent));
            if (n == -Errno.EAGAIN)
            {
                break;
            }
            if (n < 0)
            {
                Close(); // the client went away: its replies have nowhere to go
                return;
            }
            _sent += n;
        }
        int pending = _out.Length - _sent;
        if (pending > MaxPendingOutput)
        {
            Log.Warn($"rpc: a client left {pending} bytes of replies unread; disconnected");
            Close();
            return;
        }
        if (_closing && pending == 0)
        {
            Close();
            return;
        }
        _socket.WantWrite(pending > 0);
    }

    public void Close()
    {
        _socket.Close();
        _server.Closed(this);
    }
}
