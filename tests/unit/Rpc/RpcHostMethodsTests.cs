using System.Text;
using System.Text.Json;
using NativeBdev.Interop;
using NativeBdev.Rpc;

namespace NativeBdev.Tests.Rpc;

/// <summary>The host's own methods (nb_rpc_register_method): served by the process's server
/// after its table, with the params as the client wrote them, listed by rpc_get_methods,
/// answered later and from another thread; the names they may take.</summary>
[NotInParallel(nameof(RpcHostMethodsTests))] // the table is process-wide
public class RpcHostMethodsTests
{
    [Test]
    public async Task A_host_method_gets_the_raw_params_and_answers_later_from_another_thread()
    {
        RpcCall? pending = null;
        string? seen = "unset";
        await Assert.That(RpcHostMethods.Register("host_echo", (call, p) =>
        {
            pending = call;
            seen = p == null ? null : Encoding.UTF8.GetString(p, 0, p.Length - 1);
        })).IsEqualTo(0);
        try
        {
            var c = new RpcTestClient(RpcServer.WithCoreMethods(servesHostMethods: true));
            List<string> none = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"host_echo\",\"id\":1," +
                                       "\"params\":{ \"a\" : [1,2] }}", expected: 0);
            string? withParams = seen;
            var answer = new Thread(() => pending!.Result(w => w.WriteStringValue("later")));
            answer.Start();
            answer.Join();
            List<string> reply = c.Send("", expected: 1);
            List<string> bare = c.Send("{\"jsonrpc\":\"2.0\",\"method\":\"host_echo\",\"id\":2}", expected: 0);
            await Assert.That(none).IsEmpty();
            await Assert.That(withParams).IsEqualTo("{ \"a\" : [1,2] }");
            await Assert.That(reply.Single()).IsEqualTo("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"later\"}");
            await Assert.That(bare).IsEmpty(); // not answered yet
            await Assert.That(seen).IsNull(); // no params: null
            JsonElement methods = c.Call("{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":3}");
            string[] names = methods.GetProperty("result").EnumerateArray().Select(e => e.GetString()!).ToArray();
            await Assert.That(names).Contains("host_echo");
            await Assert.That(names).Contains("bdev_get_bdevs");
        }
        finally
        {
            RpcHostMethods.Unregister("host_echo");
        }
    }

    [Test]
    public async Task Only_the_process_server_serves_them_and_unregistered_ones_are_not_found()
    {
        await Assert.That(RpcHostMethods.Register("host_x", (call, _) => call.Result(true))).IsEqualTo(0);
        var plain = new RpcTestClient(RpcServer.WithCoreMethods());
        var served = new RpcTestClient(RpcServer.WithCoreMethods(servesHostMethods: true));
        const string req = "{\"jsonrpc\":\"2.0\",\"method\":\"host_x\",\"id\":1}";
        JsonElement notServed = plain.Call(req);
        JsonElement ok = served.Call(req);
        int unregistered = RpcHostMethods.Unregister("host_x");
        JsonElement gone = served.Call(req);
        await Assert.That(notServed.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-32601);
        await Assert.That(ok.GetProperty("result").GetBoolean()).IsTrue();
        await Assert.That(unregistered).IsEqualTo(0);
        await Assert.That(gone.GetProperty("error").GetProperty("code").GetInt32()).IsEqualTo(-32601);
        await Assert.That(RpcHostMethods.Unregister("host_x")).IsEqualTo(-Errno.ENOENT);
    }

    [Test]
    public async Task Names_are_1_to_255_of_a_small_set_and_never_a_built_in_one()
    {
        RpcHostHandler h = (call, _) => call.Result(true);
        foreach (string bad in new[] { "", "a b", "x/y", "é", "q\"", new string('m', 256) })
        {
            await Assert.That(RpcHostMethods.Register(bad, h)).IsEqualTo(-Errno.EINVAL);
        }
        await Assert.That(RpcHostMethods.Register("bdev_malloc_create", h)).IsEqualTo(-Errno.EEXIST);
        string longest = new('m', 255);
        await Assert.That(RpcHostMethods.Register(longest, h)).IsEqualTo(0);
        await Assert.That(RpcHostMethods.Register(longest, h)).IsEqualTo(-Errno.EEXIST);
        await Assert.That(RpcHostMethods.Register("a.b-c_D9", h)).IsEqualTo(0);
        await Assert.That(RpcHostMethods.Unregister(longest)).IsEqualTo(0);
        await Assert.That(RpcHostMethods.Unregister("a.b-c_D9")).IsEqualTo(0);
    }
}
