using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using NativeBdev.Env;

namespace NativeBdev.Rpc;

/// <summary>The method table and request dispatch of the JSON-RPC server, independent of any
/// transport: a connection (<see cref="RpcConnection"/>) hands it each parsed request; the
/// reply comes back through a callback, at once or when the core operation completes.
/// Requests are checked as SPDK's lib/jsonrpc checks them: an object with exactly the keys
/// jsonrpc ("2.0"), method (a string), params (object or array, optional) and id (string,
/// number or null, optional; an id of more than 128 bytes is refused). Receive, Poll and
/// the handlers run on one thread, the one that drives the transport.</summary>
internal sealed class RpcServer
{
    private readonly Dictionary<string, RpcMethod> _methods = new(StringComparer.Ordinal);
    private readonly List<string> _order = new();
    private readonly List<Func<bool>> _waiting = new();

    public IReadOnlyList<string> MethodNames => _order;

    /// <summary>Whether a request for a method of no table entry goes to the host's methods
    /// (<see cref="RpcHostMethods"/>): true for the process's server (RpcService).</summary>
    public bool ServesHostMethods { get; init; }

    /// <summary>What rpc_get_methods lists: the table's methods, then the host's.</summary>
    public IEnumerable<string> AllMethodNames()
    {
        foreach (string name in _order)
        {
            yield return name;
        }
        if (ServesHostMethods)
        {
            foreach (string name in RpcHostMethods.Names())
            {
                yield return name;
            }
        }
    }

    /// <summary>A server with the methods of <see cref="Methods.CoreMethods"/>.</summary>
    public static RpcServer WithCoreMethods(bool servesHostMethods = false)
    {
        var server = new RpcServer { ServesHostMethods = servesHostMethods };
        Methods.CoreMethods.Register(server);
        return server;
    }

    public void Register(RpcMethod method)
    {
        if (!_methods.TryAdd(method.Name, method))
        {
            throw new InvalidOperationException($"RPC method '{method.Name}' is registered twice");
        }
        _order.Add(method.Name);
    }

    public RpcMethod? Find(string name) => _methods.GetValueOrDefault(name);

    /// <summary>Keeps <paramref name="poll"/> and calls it from every <see cref="Poll"/>
    /// until it returns true: how a handler waits (bdev_get_bdevs' timeout) without blocking
    /// the thread.</summary>
    public void Defer(Func<bool> poll)
    {
        if (!poll())
        {
            _waiting.Add(poll);
        }
    }

    /// <summary>Runs the deferred work; returns how many are still waiting.</summary>
    public int Poll()
    {
        for (int i = _waiting.Count - 1; i >= 0; i--)
        {
            bool finished;
            try
            {
                finished = _waiting[i]();
            }
            catch (Exception e)
            {
                Log.Error($"rpc: deferred work failed: {e.Message}");
                finished = true;
            }
            if (finished)
            {
                _waiting.RemoveAt(i);
            }
        }
        return _waiting.Count;
    }

    /// <summary>Executes one request (an element of a batch, or a whole request); calls
    /// <paramref name="reply"/> exactly once, with the reply's bytes, or null when nothing
    /// is to be sent (a notification).</summary>
    public void Execute(JsonElement request, Action<byte[]?> reply)
    {
        if (request.ValueKind != JsonValueKind.Object)
        {
            reply(RpcCall.ErrorReply(null, RpcError.InvalidRequest, RpcError.InvalidRequestMessage));
            return;
        }
        if (!Check(request, out JsonElement method, out JsonElement args, out byte[]? id))
        {
            reply(RpcCall.ErrorReply(id, RpcError.InvalidRequest, RpcError.InvalidRequestMessage));
            return;
        }
        var call = new RpcCall(method.GetString()!, id, (_, bytes) => reply(bytes));
        RpcMethod? m = Find(call.Method);
        if (m == null)
        {
            RpcHostHandler? host = ServesHostMethods ? RpcHostMethods.Find(call.Method) : null;
            if (host == null)
            {
                call.Error(RpcError.MethodNotFound, RpcError.MethodNotFoundMessage);
                return;
            }
            ExecuteHost(call, host, args);
            return;
        }
        RpcParams? p = RpcParams.Validate(m, args, out string? error);
        if (p == null)
        {
            call.Error(RpcError.InvalidParams, error!);
            return;
        }
        try
        {
            m.Handler(call, p);
        }
        catch (Exception e)
        {
            Log.Error($"rpc: {m.Name} failed: {e.GetType().Name}: {e.Message}");
            if (!call.Replied)
            {
                call.Error(RpcError.InternalError, RpcError.InternalErrorMessage);
            }
        }
    }

    /// <summary>A host method: its params as the text the client sent (the host parses them).</summary>
    private static void ExecuteHost(RpcCall call, RpcHostHandler host, JsonElement args)
    {
        byte[]? raw = null;
        if (args.ValueKind != JsonValueKind.Undefined)
        {
            string text = args.GetRawText();
            raw = new byte[Encoding.UTF8.GetByteCount(text) + 1]; // and the NUL C wants
            Encoding.UTF8.GetBytes(text, raw);
        }
        try
        {
            host(call, raw);
        }
        catch (Exception e)
        {
            Log.Error($"rpc: {call.Method} (the host's) failed: {e.GetType().Name}: {e.Message}");
            if (!call.Replied)
            {
                call.Error(RpcError.InternalError, RpcError.InternalErrorMessage);
            }
        }
    }

    /// <summary>The envelope check. <paramref name="id"/> is the id's JSON text when the id
    /// is valid (null: absent, a notification, or invalid).</summary>
    private static bool Check(JsonElement request, out JsonElement method, out JsonElement args, out byte[]? id)
    {
        method = default;
        args = default;
        id = null;
        JsonElement version = default;
        JsonElement rawId = default;
        bool valid = true;
        foreach (JsonProperty prop in request.EnumerateObject())
        {
            switch (prop.Name)
            {
                case "jsonrpc":
                    version = prop.Value;
                    break;
                case "method":
                    method = prop.Value;
                    break;
                case "params":
                    args = prop.Value;
                    break;
                case "id":
                    rawId = prop.Value;
                    break;
                default:
                    valid = false; // spdk_json_decode_object refuses names it does not know
                    break;
            }
        }
        switch (rawId.ValueKind)
        {
            case JsonValueKind.Undefined:
                break;
            case JsonValueKind.String or JsonValueKind.Number:
                string text = rawId.GetRawText();
                if (Encoding.UTF8.GetByteCount(text) <= RpcError.MaxIdLength)
                {
                    id = Encoding.UTF8.GetBytes(text);
                }
                else
                {
                    valid = false;
                }
                break;
            case JsonValueKind.Null:
                id = "null"u8.ToArray();
                break;
            default:
                valid = false;
                break;
        }
        valid &= version.ValueKind == JsonValueKind.String && version.ValueEquals("2.0");
        valid &= method.ValueKind == JsonValueKind.String;
        valid &= args.ValueKind is JsonValueKind.Undefined or JsonValueKind.Object or JsonValueKind.Array;
        return valid;
    }
}
