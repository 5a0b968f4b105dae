using System;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>Bdev creation that does not hold the calling lightweight thread (SPDK's
/// bdev_nvme_create with its callback). A module whose bring-up waits on a device or the
/// network (<see cref="IBdevModule.CreationWaits"/>: an NVMe controller's enable, a TCP connect
/// to a host that may not answer for timeout_ms) is created on an OS thread of its own, so the
/// reactor running the caller — the RPC server's, a config load's — keeps polling its other
/// threads meanwhile. Every other scheme is created on the spot. Either way the result comes
/// back to the caller's thread as a message, so the caller sees one rule.</summary>
internal static class BdevCreation
{
    private static int s_inFlight;

    /// <summary>Creations running on their OS threads; the environment does not end under
    /// them (<see cref="BdevLayer"/> refuses with -EBUSY).</summary>
    public static int InFlight => Volatile.Read(ref s_inFlight);

    /// <summary>Whether creating <paramref name="uri"/> may wait (seconds, not microseconds).
    /// A URI that does not parse does not: its error comes at once.</summary>
    public static bool Waits(string uri) =>
        BdevUri.Parse(uri, out BdevUri? parsed) == 0 && BdevModules.ForScheme(parsed!.Scheme) is { } m &&
        m.CreationWaits;

    /// <summary>Starts creating the bdev <paramref name="uri"/> names. <paramref name="done"/>
    /// runs exactly once, on the calling thread from a later poll, with 0 and the name (every
    /// namespace's, comma-separated) or -errno with <see cref="LastError"/> saying why. Returns
    /// -errno (and <paramref name="done"/> never runs) only without a current thread.</summary>
    public static int Start(string uri, Action<int, string?> done)
    {
        LightweightThread? caller = LightweightThread.Current;
        if (caller == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: an asynchronous bdev creation answers on the calling thread " +
                "(call it inside nb_thread_poll or after nb_set_thread)");
        }
        var job = new Job(uri, done, caller);
        if (!Waits(uri))
        {
            job.Create();
            job.Reply();
            return 0;
        }
        Interlocked.Increment(ref s_inFlight);
        var worker = new Thread(job.RunOnWorker) { IsBackground = true, Name = "bdev-create" };
        worker.Start();
        return 0;
    }

    private sealed unsafe class Job(string uri, Action<int, string?> done, LightweightThread caller)
    {
        private readonly Action<int, string?> _done = done;
        private int _rc;
        private string? _name;
        private string _message = "";

        public void Create()
        {
            _rc = BdevFactory.Create(uri, out _name);
            _message = _rc != 0 ? LastError.Message : "";
        }

        public void RunOnWorker()
        {
            try
            {
                Create();
            }
            catch (Exception e)
            {
                // The worker has no ABI boundary above it to catch this: it becomes the result.
                _rc = -Errno.EIO;
                _message = $"creating '{uri}' failed: {e.Message}";
                Log.Error(_message);
            }
            finally
            {
                Interlocked.Decrement(ref s_inFlight);
            }
            Reply();
        }

        public void Reply()
        {
            if (caller.SendControl(&Deliver, this) == 0)
            {
                return;
            }
            // The caller's thread is gone: nobody is left to tell. What was made stays
            // registered (nb_bdev_first lists it) rather than vanishing unannounced.
            Log.Warn(_rc == 0
                ? $"bdev '{_name}' was created for thread '{caller.Name}', which has exited"
                : $"creating '{uri}' for thread '{caller.Name}', which has exited: {_message}");
        }

        private static void Deliver(object? o, nint _)
        {
            var job = (Job)o!;
            if (job._rc != 0)
            {
                LastError.Set(-job._rc, job._message);
            }
            job._done(job._rc, job._name);
        }
    }
}
