using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Nvme;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Nvme;

/// <summary>The io device of one controller's I/O queue pairs (SPDK's nvme_ctrlr_channel):
/// its per-thread state is one <see cref="NvmeIoQpair"/> and its poller, shared by every
/// namespace bdev of the controller used on that thread — a controller's queues are spent
/// per thread, not per thread and namespace. Made with the controller's first namespace
/// bdev, dropped with the last.</summary>
internal sealed unsafe class NvmeQpairDevice : IoDevice
{
    private static readonly object s_lock = new();
    private static readonly Dictionary<NvmeController, NvmeQpairDevice> s_devices = new();

    private readonly NvmeController _controller;
    private int _users;

    private NvmeQpairDevice(NvmeController controller)
        : base(0, "nvme qpairs " + controller.Address, 0) => _controller = controller;

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
    internal sealed class ThreadQpair
    {
        public readonly NvmeIoQpair Qpair;
        public Poller? Poller;

        public ThreadQpair(NvmeIoQpair qpair) => Qpair = qpair;
    }

    public override int CreateChannel(IoChannel channel)
    {
        var q = new NvmeIoQpair(_controller, channel.Thread);
        int rc = q.Init();
        if (rc != 0)
        {
            return rc;
        }
        var t = new ThreadQpair(q);
        rc = channel.Thread.RegisterPoller("nvme_qpair " + _controller.Address, 0,
            (nint)(delegate*<object?, int>)&PollThunk, 0, t, managed: true, out t.Poller);
        if (rc != 0)
        {
            q.Destroy();
            return rc;
        }
        channel.State = t;
        return 0;
    }

    private static int PollThunk(object? o) => ((ThreadQpair)o!).Qpair.Poll();

    public override void DestroyChannel(IoChannel channel)
    {
        if (channel.State is ThreadQpair t)
        {
            if (t.Poller != null)
            {
                channel.Thread.UnregisterPoller(t.Poller);
            }
            if (!t.Qpair.IsIdle)
            {
                // Requests a leaked bdev channel still holds: the queue stays with them.
                Log.Error($"nvme {_controller.Address}: queue {t.Qpair.Queue.Id} released with requests in flight; " +
                          "it is kept");
            }
            else
            {
                t.Qpair.Destroy();
            }
        }
        channel.State = null;
    }
}
