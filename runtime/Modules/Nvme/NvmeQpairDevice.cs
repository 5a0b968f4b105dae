using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Nvme;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Nvme;

/// <summary>One controller's I/O queue pairs (SPDK's nvme_ctrlr_channel): an io device whose
/// per-thread state is one <see cref="NvmeIoQpair"/> and its poller, shared by every namespace
/// bdev of the controller used on that thread — a controller's queues are spent per thread,
/// not per thread and namespace. Made with the controller's first namespace bdev, dropped
/// with the last.</summary>
internal sealed class NvmeQpairDevice
{
    private static readonly object s_lock = new();
    private static readonly Dictionary<NvmeController, NvmeQpairDevice> s_devices = new();

    private readonly NvmeController _controller;
    private int _users;

    /// <summary>The io device: its channels' state is a <see cref="ThreadQpair"/>.</summary>
    public readonly IoDevice Device;

    private NvmeQpairDevice(NvmeController controller)
    {
        _controller = controller;
        Device = new PerThreadDevice<ThreadQpair>("nvme qpairs " + controller.Address,
            t => new ThreadQpair(controller, t));
    }

    public static NvmeQpairDevice Acquire(NvmeController controller)
    {
        lock (s_lock)
        {
            if (!s_devices.TryGetValue(controller, out NvmeQpairDevice? d))
            {
                d = new NvmeQpairDevice(controller);
                s_devices[controller] = d;
            }
            d._users++;
            return d;
        }
    }

    public void Release()
    {
        lock (s_lock)
        {
            if (--_users == 0)
            {
                s_devices.Remove(_controller);
            }
        }
    }

    /// <summary>A thread's queue pair and the poller that drives it.</summary>
    internal sealed unsafe class ThreadQpair : IPerThreadState
    {
        private readonly NvmeController _controller;
        private readonly LightweightThread _thread;
        private Poller? _poller;
        private bool _started;
        public readonly NvmeIoQpair Qpair;

        public ThreadQpair(NvmeController controller, LightweightThread thread)
        {
            _controller = controller;
            _thread = thread;
            Qpair = new NvmeIoQpair(controller, thread);
        }

        public int Start()
        {
            int rc = Qpair.Init();
            if (rc != 0)
            {
                return rc;
            }
            _started = true;
            return _thread.RegisterPoller("nvme_qpair " + _controller.Address, 0,
                (nint)(delegate*<object?, int>)&PollThunk, 0, this, managed: true, out _poller);
        }

        private static int PollThunk(object? o) => ((ThreadQpair)o!).Qpair.Poll();

        public void Release()
        {
            if (_poller != null)
            {
                _thread.UnregisterPoller(_poller);
                _poller = null;
            }
            if (!_started)
            {
                return; // Init failed: it took nothing
            }
            if (!Qpair.IsIdle)
            {
                // Requests a leaked bdev channel still holds: the queue stays with them.
                Log.Error($"nvme {_controller.Address}: queue {Qpair.Queue.Id} released with requests in " +
                          "flight; it is kept");
                return;
            }
            Qpair.Destroy();
        }
    }
}
