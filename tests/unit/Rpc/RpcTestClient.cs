using System.Text;
using System.Text.Json;
using NativeBdev.Rpc;

namespace NativeBdev.Tests.Rpc;

/// <summary>A connection to an <see cref="RpcServer"/> without a socket: bytes in, reply
/// lines out, polling the server's deferred work until a reply is due.</summary>
internal sealed class RpcTestClient
{
    public readonly RpcServer Server;
    public readonly RpcConnection Connection;

    /// <summary>The thread the calls run on (bound while a request is handed over, polled
    /// while a reply is awaited), for methods that open bdevs or walk threads; null: none.</summary>
    private readonly NativeBdev.Reactor.LightweightThread? _thread;

    public NativeBdev.Reactor.LightweightThread? Thread => _thread;

    /// <summary>Runs while a reply is awaited: polls the lightweight threads a handler's work
    /// (a bdev's removal) needs, as the server's own thread would be polled.</summary>
    public Action? Pump { get; set; }

    public RpcTestClient(RpcServer? server = null, int maxRequestBytes = RpcDecoder.DefaultMaxRequestBytes,
        NativeBdev.Reactor.LightweightThread? thread = null)
    {
        Server = server ?? RpcServer.WithCoreMethods();
        Connection = new RpcConnection(Server, maxRequestBytes);
        _thread = thread;
    }

    public RpcTestClient(NativeBdev.Reactor.LightweightThread thread)
        : this(null, RpcDecoder.DefaultMaxRequestBytes, thread)
    {
    }

    /// <summary>Sends <paramref name="text"/>; returns the reply lines that came within
    /// <paramref name="expected"/> replies or two seconds.</summary>
    public List<string> Send(string text, int expected = 1)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        if (_thread != null)
        {
            Support.ThreadHost.OnThread(_thread, () => Connection.Receive(bytes));
        }
        else
        {
            Connection.Receive(bytes);
        }
        var lines = new List<string>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            lines.AddRange(Lines(Connection.TakeOutput()));
            if (lines.Count >= expected || sw.ElapsedMilliseconds > 2000)
            {
                return lines;
            }
            if (_thread != null)
            {
                Support.ThreadHost.OnThread(_thread, Server.Poll);
                Support.ThreadHost.Poll(_thread);
            }
            else if (Pump != null)
            {
                Server.Poll();
                Pump();
            }
            else
            {
                Server.Poll();
                System.Threading.Thread.Sleep(1);
            }
        }
    }

    /// <summary>One request, one reply, parsed.</summary>
    public JsonElement Call(string text)
    {
        List<string> lines = Send(text);
        if (lines.Count != 1)
        {
            throw new InvalidOperationException($"expected one reply to {text}, got {lines.Count}");
        }
        using JsonDocument doc = JsonDocument.Parse(lines[0]);
        return doc.RootElement.Clone();
    }

    public JsonElement Call(string method, string? paramsJson, string id = "1") =>
        Call("{\"jsonrpc\":\"2.0\",\"method\":\"" + method + "\",\"id\":" + id +
             (paramsJson == null ? "" : ",\"params\":" + paramsJson) + "}");

    private static IEnumerable<string> Lines(byte[] output)
    {
        string s = Encoding.UTF8.GetString(output);
        foreach (string line in s.Split('\n'))
        {
            if (line.Length > 0)
            {
                yield return line;
            }
        }
        if (s.Length > 0 && !s.EndsWith('\n'))
        {
            throw new InvalidOperationException("a reply did not end with a newline");
        }
    }
}
