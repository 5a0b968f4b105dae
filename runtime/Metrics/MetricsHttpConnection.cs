using System;
using System.Text;
using NativeBdev.Interop;
using NativeBdev.Net;

namespace NativeBdev.Metrics;

/// <summary>One scrape: read a request head (at most <see cref="MaxRequestBytes"/>), answer
/// GET /metrics with the exposition, anything else with its HTTP error, then end the
/// connection (every reply says Connection: close, so a scraper never waits on a kept one).</summary>
internal sealed class MetricsHttpConnection : ISocketHandler
{
    public const int MaxRequestBytes = 8192;

    private readonly MetricsServer _server;
    private readonly byte[] _request = new byte[MaxRequestBytes];
    private int _received;
    private byte[]? _reply;
    private int _sent;

    private bool _refused;

    public MetricsHttpConnection(MetricsServer server, NetSocket socket)
    {
        _server = server;
        Socket = socket;
        AcceptedTicks = Env.Ticks.Now;
    }

    public NetSocket Socket { get; }

    public long AcceptedTicks { get; }

    /// <summary>Over the server's limit: closed when it first becomes readable, unanswered.</summary>
    public void Refuse() => _refused = true;

    public void OnReadable(NetSocket socket)
    {
        if (_refused)
        {
            Close(socket);
            return;
        }
        if (_reply != null)
        {
            Span<byte> sink = stackalloc byte[512]; // what follows the head is not read
            int m = socket.Receive(sink);
            if (m != -Errno.EAGAIN && m != -Errno.EINTR && m <= 0)
            {
                Close(socket);
            }
            return;
        }
        int n = socket.Receive(_request.AsSpan(_received));
        if (n == -Errno.EAGAIN || n == -Errno.EINTR)
        {
            return;
        }
        if (n <= 0)
        {
            Close(socket);
            return;
        }
        _received += n;
        int end = _request.AsSpan(0, _received).IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            if (_received == MaxRequestBytes)
            {
                Respond(socket, 431, "Request Header Fields Too Large", "request head over 8 KiB\n");
            }
            return;
        }
        Answer(socket, _request.AsSpan(0, end));
    }

    public void OnWritable(NetSocket socket) => Flush(socket);

    /// <summary>The request line: METHOD SP TARGET SP HTTP/1.x.</summary>
    private void Answer(NetSocket socket, ReadOnlySpan<byte> head)
    {
        int eol = head.IndexOf("\r\n"u8);
        ReadOnlySpan<byte> line = eol < 0 ? head : head[..eol];
        int sp1 = line.IndexOf((byte)' ');
        int sp2 = sp1 < 0 ? -1 : line[(sp1 + 1)..].IndexOf((byte)' ');
        if (sp1 <= 0 || sp2 <= 0 || !line[(sp1 + sp2 + 2)..].StartsWith("HTTP/1."u8))
        {
            Respond(socket, 400, "Bad Request", "not an HTTP/1.x request line\n");
            return;
        }
        ReadOnlySpan<byte> method = line[..sp1], target = line.Slice(sp1 + 1, sp2);
        int q = target.IndexOf((byte)'?');
        ReadOnlySpan<byte> path = q < 0 ? target : target[..q];
        if (!path.SequenceEqual("/metrics"u8) && !path.SequenceEqual("/"u8))
        {
            Respond(socket, 404, "Not Found", "only /metrics is served here\n");
            return;
        }
        bool headOnly = method.SequenceEqual("HEAD"u8);
        if (!method.SequenceEqual("GET"u8) && !headOnly)
        {
            Respond(socket, 405, "Method Not Allowed", "GET /metrics\n");
            return;
        }
        _server.Scrapes++;
        byte[] body = RuntimeMetrics.Render();
        Send(socket, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, headOnly);
    }

    private void Respond(NetSocket socket, int status, string reason, string text) =>
        Send(socket, status, reason, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(text), false);

    private void Send(NetSocket socket, int status, string reason, string type, byte[] body, bool headOnly)
    {
        byte[] header = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: {type}\r\nContent-Length: {body.Length}\r\n" +
            "Connection: close\r\n\r\n");
        _reply = new byte[header.Length + (headOnly ? 0 : body.Length)];
        header.CopyTo(_reply, 0);
        if (!headOnly)
        {
            body.CopyTo(_reply, header.Length);
        }
        Flush(socket);
    }

    private void Flush(NetSocket socket)
    {
        if (_reply == null || socket.IsClosed)
        {
            return;
        }
        while (_sent < _reply.Length)
        {
            int n = socket.Send(_reply.AsSpan(_sent));
            if (n == -Errno.EAGAIN)
            {
                socket.WantWrite(true);
                return;
            }
            if (n < 0)
            {
                Close(socket);
                return;
            }
            _sent += n;
        }
        // The reply may come before the whole request was read (an error): FIN, then close
        // when the client does, so it reads the reply instead of a reset.
        socket.WantWrite(false);
        socket.ShutdownWrite();
    }

    private void Close(NetSocket socket)
    {
        socket.Close();
        _server.Closed(this);
    }

    /// <summary>The server ends a scrape that has taken too long (a client that connects and
    /// never sends would hold its slot forever).</summary>
    public void Abandon() => Socket.Close();
}
