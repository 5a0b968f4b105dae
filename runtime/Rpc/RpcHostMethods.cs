using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Rpc;

/// <summary>A host method's handler: the call to answer (exactly once, from any thread) and
/// the request's params as UTF-8 JSON text with a NUL after it, or null when it had none.</summary>
internal delegate void RpcHostHandler(RpcCall call, byte[]? paramsJson);

/// <summary>The host's own methods (nb_rpc_register_method; SPDK applications add theirs with
/// SPDK_RPC_REGISTER, bdevperf its perform_tests), which the process's RPC server serves
/// beside the core ones. Process-wide like that server: registered from any thread, found by
/// the server's thread, so the table is behind a lock (one look-up per request, off every
/// hot path). Their parameters are the host's to check, so none are declared.</summary>
internal static class RpcHostMethods
{
    public const int MaxNameLength = 255;

    private static readonly object s_lock = new();
    private static readonly Dictionary<string, RpcHostHandler> s_methods = new(StringComparer.Ordinal);
    private static readonly List<string> s_order = new();
    private static HashSet<string>? s_coreNames;

    public static int Register(string name, RpcHostHandler handler)
    {
        int rc = CheckName(name);
        if (rc != 0)
        {
            return rc;
        }
        if (CoreNames().Contains(name))
        {
            return LastError.Set(Errno.EEXIST, $"'{name}' is a built-in RPC method");
        }
        lock (s_lock)
        {
            if (!s_methods.TryAdd(name, handler))
            {
                return LastError.Set(Errno.EEXIST, $"RPC method '{name}' is already registered");
            }
            s_order.Add(name);
        }
        return 0;
    }

    public static int Unregister(string name)
    {
        lock (s_lock)
        {
            if (!s_methods.Remove(name))
            {
                return LastError.Set(Errno.ENOENT, $"no RPC method '{name}' is registered by the host");
            }
            s_order.Remove(name);
        }
        return 0;
    }

    public static RpcHostHandler? Find(string name)
    {
        lock (s_lock)
        {
            return s_methods.GetValueOrDefault(name);
        }
    }

    /// <summary>The registered names, in registration order (rpc_get_methods lists them).</summary>
    public static string[] Names()
    {
        lock (s_lock)
        {
            return s_order.ToArray();
        }
    }

    /// <summary>nb_env_fini: the host's registrations end with the environment.</summary>
    public static void Clear()
    {
        lock (s_lock)
        {
            s_methods.Clear();
            s_order.Clear();
        }
    }

    private static int CheckName(string name)
    {
        if (name.Length == 0 || name.Length > MaxNameLength)
        {
            return LastError.Set(Errno.EINVAL,
                $"RPC method name '{name}' is {name.Length} characters; it must be 1 to {MaxNameLength}");
        }
        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
            {
                return LastError.Set(Errno.EINVAL,
                    $"RPC method name '{name}' has '{c}'; only A-Z, a-z, 0-9, '_', '.' and '-' are allowed");
            }
        }
        return 0;
    }

    /// <summary>The core methods' names, from a method table made once for the purpose.</summary>
    private static HashSet<string> CoreNames()
    {
        lock (s_lock)
        {
            return s_coreNames ??=
                new HashSet<string>(RpcServer.WithCoreMethods().MethodNames, StringComparer.Ordinal);
        }
    }
}
