using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Rpc;

/// <summary>The process's RPC server behind nb_rpc_server_start/stop (SPDK has one too):
/// the core methods on a socket, started and stopped on one thread.</summary>
internal static class RpcService
{
    private static readonly object s_lock = new();
    private static RpcSocketServer? s_server;

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
            int rc = RpcSocketServer.Start(address, RpcServer.WithCoreMethods(), out RpcSocketServer? server);
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
