using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The process's NVMe/TCP target behind nb_nvmf_* and the nvmf_* RPC methods (as
/// SPDK's default target): one at a time, started and stopped on one thread; its other calls
/// are made on that thread too.</summary>
internal static class NvmfService
{
    private static readonly object s_lock = new();
    private static NvmfTarget? s_target;

    public static NvmfTarget? Current
    {
        get
        {
            lock (s_lock)
            {
                DropIfThreadGone();
                return s_target;
            }
        }
    }

    /// <summary>A target whose thread exited went with it (its sockets were closed by the
    /// thread's socket group): a new one may start.</summary>
    private static void DropIfThreadGone()
    {
        if (s_target != null && (s_target.Thread.IsExited || s_target.Thread.IsDestroyed))
        {
            Log.Warn($"nvmf: the target's thread '{s_target.Thread.Name}' exited while it ran; the target is gone");
            s_target = null;
        }
    }

    /// <summary>nvmf_create_transport: starts the target with these options, or gives them to
    /// one that nvmf_create_subsystem started with defaults.</summary>
    public static int CreateTransport(NvmfTransportOptions options)
    {
        lock (s_lock)
        {
            DropIfThreadGone();
            if (s_target != null)
            {
                return s_target.CreateTransport(options);
            }
            if (options.Check() is { } why)
            {
                return LastError.Set(Errno.EINVAL, $"NVMe/TCP transport: {why}");
            }
            int rc = NvmfTarget.Start(options, out NvmfTarget? target);
            s_target = rc == 0 ? target : null;
            return rc;
        }
    }

    /// <summary>The running target, started with the transport's defaults if none runs (SPDK
    /// has its target before any transport: subsystems may come first).</summary>
    public static int GetOrStart(out NvmfTarget? target)
    {
        lock (s_lock)
        {
            DropIfThreadGone();
            int rc = s_target == null ? NvmfTarget.Start(null, out s_target, transport: false) : 0;
            target = s_target;
            return rc;
        }
    }

    public static int Start(NvmfTransportOptions? options)
    {
        lock (s_lock)
        {
            DropIfThreadGone();
            if (s_target != null)
            {
                return LastError.Set(Errno.EALREADY,
                    $"the NVMe/TCP target runs already (on thread '{s_target.Thread.Name}')");
            }
            int rc = NvmfTarget.Start(options, out NvmfTarget? target);
            if (rc == 0)
            {
                s_target = target;
            }
            return rc;
        }
    }

    /// <summary>The running target, or -ENOENT with a message.</summary>
    public static int Get(out NvmfTarget? target)
    {
        target = Current;
        return target != null ? 0 : NotRunning();
    }

    public static int Stop()
    {
        lock (s_lock)
        {
            DropIfThreadGone();
            if (s_target == null)
            {
                return NotRunning();
            }
            int rc = s_target.Stop();
            if (rc == 0)
            {
                s_target = null;
            }
            return rc;
        }
    }

    private static int NotRunning() =>
        LastError.Set(Errno.ENOENT, "no NVMe/TCP target runs (nb_nvmf_target_start or nvmf_create_transport first)");
}
