using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nbd;

/// <summary>The process's NBD server behind nb_nbd_server_* and the nbd_server_* RPC
/// methods: one at a time, started and stopped on one thread, its exports changed from any.</summary>
internal static class NbdService
{
    private static readonly object s_lock = new();
    private static NbdServer? s_server;

    public static NbdServer? Current
    {
        get
        {
            lock (s_lock)
            {
                return s_server;
            }
        }
    }

    public static int Start(string? address, NbdServerOptions? options = null)
    {
        lock (s_lock)
        {
            if (s_server != null)
            {
                return LastError.Set(Errno.EALREADY, $"an NBD server already listens on {s_server.Endpoint}");
            }
            int rc = NbdServer.Start(address, options, out NbdServer? server);
            if (rc == 0)
            {
                s_server = server;
            }
            return rc;
        }
    }

    public static int AddExport(string? name, string? bdevName, bool readOnly, string? description)
    {
        NbdServer? s = Current;
        return s == null ? NotRunning() : s.AddExport(name, bdevName, readOnly, description);
    }

    public static int RemoveExport(string? name)
    {
        NbdServer? s = Current;
        return s == null ? NotRunning() : s.RemoveExport(name);
    }

    public static int Stop()
    {
        lock (s_lock)
        {
            if (s_server == null)
            {
                return NotRunning();
            }
            if (!s_server.Thread.IsCurrent)
            {
                return LastError.Set(Errno.EINVAL,
                    $"the NBD server stops on the thread that started it ({s_server.Thread.OwnerHint()})");
            }
            s_server.Stop();
            s_server = null;
            return 0;
        }
    }

    private static int NotRunning() => LastError.Set(Errno.ENOENT, "no NBD server runs (nbd_server_start first)");
}
