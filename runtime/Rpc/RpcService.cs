using System;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Rpc;

/// <summary>The process's RPC server behind nb_rpc_server_start/stop (SPDK has one too):
/// the core methods on a socket, started and stopped on one thread.</summary>
internal static class RpcService
{
    private static readonly object s_lock = new();
    private static RpcSocketServer? s_server;
    private static Action? s_startInit;

    /// <summary>spdk_tgt --wait-for-rpc: the host's start-up step that framework_start_init
    /// runs once (it loads the config); while it waits, framework_wait_init waits too.</summary>
    public static void WaitForStartInit(Action startInit)
    {
        lock (s_lock)
        {
            s_startInit = startInit;
        }
    }

    public static bool StartInitPending
    {
        get
        {
            lock (s_lock)
            {
                return s_startInit != null;
            }
        }
    }

    /// <summary>Runs the waiting start-up step; false if none waits (initialisation is over).</summary>
    public static bool RunStartInit()
    {
        Action? step;
        lock (s_lock)
        {
            step = s_startInit;
            s_startInit = null;
        }
        step?.Invoke();
        return step != null;
    }

    public static RpcSocketServer? Current
    {
        get
        {
            lock (s_lock)
            {
                return s_server;
            }
        }
    }

    public static int Start(string? address)
    {
        lock (s_lock)
        {
            if (s_server != null)
            {
                return LastError.Set(Errno.EALREADY, $"an RPC server already listens on {s_server.Endpoint}");
            }
            int rc = RpcSocketServer.Start(address, RpcServer.WithCoreMethods(servesHostMethods: true),
                out RpcSocketServer? server);
            if (rc == 0)
            {
                s_server = server;
            }
            return rc;
        }
    }

    public static int Stop()
    {
        lock (s_lock)
        {
            if (s_server == null)
            {
                return LastError.Set(Errno.ENOENT, "no RPC server runs");
            }
            if (!s_server.Thread.IsCurrent)
            {
                return LastError.Set(Errno.EINVAL,
                    $"the RPC server stops on the thread that started it ({s_server.Thread.OwnerHint()})");
            }
            s_server.Stop();
            s_server = null;
            return 0;
        }
    }
}
