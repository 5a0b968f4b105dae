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

    /// <summary>Runs while a reply is awaited: polls the lightweight threads a handler's work
    /// (a bdev's removal) needs, as the server's own thread would be polled.</summary>
    public Action? Pump { get; set; }

    public RpcTestClient(RpcServer? server = null, int maxRequestBytes = RpcDecoder.DefaultMaxRequestBytes)
    {
        Server = server ?? RpcServer.WithCoreMethods();
        Connection = new RpcConnection(Server, maxRequestBytes);
    }

    /// <summary>Sends <paramref name="text"/>; returns the reply lines that came within
    /// <paramref name="expected"/> replies or two seconds.</summary>
    public List<string> Send(string text, int expected = 1)
    {
        Connection.Receive(Encoding.UTF8.GetBytes(text));
        var lines = new List<string>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            lines.AddRange(Lines(Connection.TakeOutput()));
            if (lines.Count >= expected || sw.ElapsedMilliseconds > 2000)
            {
                return lines;
            }
            Server.Poll();
            if (Pump != null)
            {
                Pump();
            }
            else
            {
                Thread.Sleep(1);
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
