using System.Text.Json;
using NativeBdev.Rpc;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>Request checks, error codes and messages as SPDK's lib/jsonrpc sends them, batch
/// requests and notifications.</summary>
[NotInParallel(Keys.Threads)] // one test creates a bdev: process-wide counts elsewhere must not see it
public class RpcDispatchTests
{
    private static RpcServer Echo()
    {
        var s = new RpcServer();
        s.Register(new RpcMethod("echo",
            [RpcParam.Req("n", RpcParamKind.UInt32), RpcParam.Opt("s", RpcParamKind.String)],
            (call, args) => call.Result(w => w.WriteNumberValue(args.UInt32("n")))));
        s.Register(new RpcMethod("throws", [], (_, _) => throw new InvalidOperationException("boom")));
        s.Register(new RpcMethod("fails", [], (call, _) => call.Errno(-19)));
        return s;
    }

    private static (int Code, string Message) ErrorOf(JsonElement reply)
    {
        JsonElement e = reply.GetProperty("error");
        return (e.GetProperty("code").GetInt32(), e.GetProperty("message").GetString()!);
    }

    [Test]
    public async Task A_result_echoes_the_id_of_any_accepted_type()
    {
        var c = new RpcTestClient(Echo());
        JsonElement num = c.Call("echo", "{\"n\":7}", "42");
        JsonElement str = c.Call("echo", "{\"n\":7}", "\"abc\"");
        JsonElement nul = c.Call("echo", "{\"n\":7}", "null");
        await Assert.That(num.GetRawText()).IsEqualTo("{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":7}");
        await Assert.That(str.GetProperty("id").GetString()).IsEqualTo("abc");
        await Assert.That(nul.GetProperty("id").ValueKind).IsEqualTo(JsonValueKind.Null);
    }

    [Test]
    public async Task A_notification_gets_no_reply_even_when_it_fails()
    {
        var c = new RpcTestClient(Echo());
        List<string> ok = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1}}", expected: 0);
        List<string> unknown = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}", expected: 0);
        List<string> next = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":2},\"id\":3}");
        await Assert.That(ok).IsEmpty();
        await Assert.That(unknown).IsEmpty();
        await Assert.That(next.Count).IsEqualTo(1);
    }

    [Test]
    public async Task Invalid_requests_get_32600_with_SPDKs_message()
    {
        var c = new RpcTestClient(Echo());
        string[] bad =
        [
            "{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":1}",
            "{\"method\":\"echo\",\"id\":1}",
            "{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":1}",
            "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":3,\"id\":1}",
            "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{}}",
            "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"extra\":0}",
            "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":\"" + new string('i', 200) + "\"}",
            "17\n",
            "[]",
        ];
        var codes = new List<string>();
        foreach (string b in bad)
        {
            (int code, string message) = ErrorOf(c.Call(b));
            codes.Add($"{code} {message}");
        }
        await Assert.That(codes.Distinct().Single()).IsEqualTo("-32600 Invalid request");
    }

    [Test]
    public async Task Unknown_methods_get_32601()
    {
        var c = new RpcTestClient(Echo());
        JsonElement r = c.Call("no_such_method", null);
        await Assert.That(ErrorOf(r)).IsEqualTo((-32601, "Method not found"));
        await Assert.That(r.GetProperty("id").GetInt32()).IsEqualTo(1);
    }

    [Test]
    public async Task Invalid_params_get_32602_naming_the_parameter()
    {
        var c = new RpcTestClient(Echo());
        (int, string) missing = ErrorOf(c.Call("echo", "{}"));
        (int, string) type = ErrorOf(c.Call("echo", "{\"n\":\"many\"}"));
        (int, string) range = ErrorOf(c.Call("echo", "{\"n\":-1}"));
        (int, string) unknown = ErrorOf(c.Call("echo", "{\"n\":1,\"zz\":1}"));
        (int, string) array = ErrorOf(c.Call("echo", "[1]"));
        (int, string) none = ErrorOf(c.Call("fails", "{\"a\":1}"));
        await Assert.That(missing).IsEqualTo((-32602, "Invalid parameters: missing required parameter 'n'"));
        await Assert.That(type.Item2).StartsWith("Invalid parameters: 'n' must be an integer");
        await Assert.That(range.Item2).StartsWith("Invalid parameters: 'n' must be an integer");
        await Assert.That(unknown).IsEqualTo((-32602, "Invalid parameters: unknown parameter 'zz'"));
        await Assert.That(array.Item1).IsEqualTo(-32602);
        await Assert.That(none).IsEqualTo((-32602, "fails method requires no parameters"));
    }

    [Test]
    public async Task Handler_failures_are_errno_with_strerror_and_exceptions_are_32603()
    {
        var c = new RpcTestClient(Echo());
        (int, string) errno = ErrorOf(c.Call("fails", null));
        (int, string) thrown = ErrorOf(c.Call("throws", null));
        await Assert.That(errno).IsEqualTo((-19, "No such device"));
        await Assert.That(thrown).IsEqualTo((-32603, "Internal error"));
    }

    [Test]
    public async Task A_batch_gets_one_array_of_replies_without_the_notifications()
    {
        var c = new RpcTestClient(Echo());
        List<string> lines = c.Send("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1},\"id\":1}," +
                                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":2}}," +
                                    "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":3}, 5]");
        List<string> allNotifications = c.Send("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1}}]", 0);
        await Assert.That(lines.Count).IsEqualTo(1);
        await Assert.That(lines[0]).IsEqualTo(
            "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}," +
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}," +
            "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"Invalid request\"}}]");
        await Assert.That(allNotifications).IsEmpty();
    }

    [Test]
    public async Task Malformed_JSON_gets_32700_and_the_connection_closes()
    {
        var c = new RpcTestClient(Echo());
        List<string> lines = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1},\"id\":1}" +
                                    "{\"jsonrpc\" \"2.0\"}" +
                                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1},\"id\":2}",
                                    expected: 2);
        int again = c.Connection.Receive("{}"u8);
        await Assert.That(lines.Count).IsEqualTo(2);
        await Assert.That(lines[1]).IsEqualTo(
            "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}");
        await Assert.That(c.Connection.MustClose).IsTrue();
        await Assert.That(again).IsEqualTo(-1);
    }

    [Test]
    public async Task Invalid_UTF8_and_oversized_requests_are_parse_errors()
    {
        var utf8 = new RpcTestClient(Echo());
        utf8.Connection.Receive([(byte)'"', 0xC3, 0x28, (byte)'"']);
        string utf8Reply = System.Text.Encoding.UTF8.GetString(utf8.Connection.TakeOutput());
        var big = new RpcTestClient(Echo(), maxRequestBytes: 128);
        int rc = big.Connection.Receive(System.Text.Encoding.UTF8.GetBytes(
            "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"s\":\"" + new string('x', 500) + "\"}}"));
        string bigReply = System.Text.Encoding.UTF8.GetString(big.Connection.TakeOutput());
        await Assert.That(utf8Reply).Contains("-32700");
        await Assert.That(rc).IsEqualTo(-1);
        await Assert.That(bigReply).Contains("-32700");
    }

    [Test]
    public async Task Deferred_work_finishes_on_a_later_poll()
    {
        TestEnv.Ensure();
        var c = new RpcTestClient();
        string name = Bdevs.Unique("later");
        c.Connection.Receive(System.Text.Encoding.UTF8.GetBytes(
            "{\"jsonrpc\":\"2.0\",\"method\":\"bdev_get_bdevs\",\"id\":1,\"params\":{\"name\":\"" + name +
            "\",\"timeout\":5000}}"));
        int waiting = c.Server.Poll();
        string created = Bdevs.Create($"null:///{name}?size_mb=1");
        int after = c.Server.Poll();
        string reply = System.Text.Encoding.UTF8.GetString(c.Connection.TakeOutput());
        Bdevs.DestroyAndWait(created);
        await Assert.That(waiting).IsEqualTo(1);
        await Assert.That(after).IsEqualTo(0);
        await Assert.That(reply).Contains("\"name\":\"" + name + "\"");
    }
}
