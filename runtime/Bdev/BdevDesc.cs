using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>An open of a bdev (spdk_bdev_desc): read-only or writable, with an event
/// callback that runs on the thread that opened it.</summary>
internal sealed unsafe class BdevDesc
{
    public readonly Bdev Bdev;
    public readonly bool Writable;
    public readonly LightweightThread Thread;
    /// <summary>The descriptor's name in the core, unique for the process's life: what each
    /// of its I/Os records (<see cref="BdevIo.DescId"/>), so the layer finds the descriptor
    /// of an I/O without the ABI's handle table.</summary>
    public readonly long Id = System.Threading.Interlocked.Increment(ref s_lastId);
    public nint Handle;
    public bool Closed;
    private static long s_lastId;

    // spdk_bdev_set_timeout: cb(ctx, bdev_io) for every I/O of this descriptor outstanding
    // longer than TimeoutTicks, on the I/O's thread; with Abort, I/O the bdev layer still
    // holds (queued, delayed or stuck by a fault rule) is completed with -ETIMEDOUT.
    public long TimeoutTicks;
    public bool AbortOnTimeout;
    public delegate* unmanaged[Cdecl]<void*, BdevIo*, void> TimeoutCallback;
    public void* TimeoutContext;

    // C: void cb(int type, struct nb_bdev *bdev, void *ctx); or a managed callback.
    private readonly delegate* unmanaged[Cdecl]<int, nint, void*, void> _nativeCallback;
    private readonly void* _nativeContext;
    private readonly Action<BdevEventType, Bdev>? _managedCallback;

    public BdevDesc(Bdev bdev, bool writable, LightweightThread thread,
        delegate* unmanaged[Cdecl]<int, nint, void*, void> nativeCallback, void* nativeContext,
        Action<BdevEventType, Bdev>? managedCallback)
    {
        Bdev = bdev;
        Writable = writable;
        Thread = thread;
        _nativeCallback = nativeCallback;
        _nativeContext = nativeContext;
        _managedCallback = managedCallback;
    }

    /// <summary>spdk_bdev_get_io_channel: the calling thread's channel of the bdev, created on
    /// first use; refused once the bdev is being removed.</summary>
    public int GetIoChannel(out IoChannel? channel)
    {
        channel = null;
        if (Bdev.Removing)
        {
            return LastError.Set(Errno.ENODEV, $"bdev '{Bdev.Name}' is being removed");
        }
        return IoChannel.Get(Bdev.IoDevice, out channel);
    }

    /// <summary>The longest timeout <see cref="SetTimeout"/> takes: a day.</summary>
    public const ulong MaxTimeoutMicroseconds = 3_600_000_000UL * 24;

    /// <summary>spdk_bdev_set_timeout: from now on, <paramref name="callback"/> runs for each I/O
    /// of this descriptor outstanding longer than <paramref name="timeoutUs"/>, on the I/O's
    /// thread, and with <paramref name="abort"/> held I/O is completed with -ETIMEDOUT. 0 turns
    /// it off. The channels scan for overdue I/O only while some descriptor has a timeout.</summary>
    public int SetTimeout(ulong timeoutUs, bool abort, delegate* unmanaged[Cdecl]<void*, BdevIo*, void> callback,
        void* context)
    {
        if (timeoutUs > MaxTimeoutMicroseconds)
        {
            return LastError.Set(Errno.EINVAL, $"timeout {timeoutUs} us is more than a day");
        }
        if (timeoutUs > 0 && callback == null && !abort)
        {
            return LastError.Set(Errno.EINVAL, "a timeout needs a callback, abort, or both");
        }
        return Bdev.SetTimeout(this, timeoutUs == 0 ? 0 : Math.Max(1, Ticks.FromMicroseconds((long)timeoutUs)),
            abort, callback, context);
    }

    /// <summary>Runs on <see cref="Thread"/>.</summary>
    public void Deliver(BdevEventType type)
    {
        if (Closed)
        {
            return;
        }
        if (_managedCallback != null)
        {
            _managedCallback(type, Bdev);
        }
        else if (_nativeCallback != null)
        {
            _nativeCallback((int)type, Bdev.Handle, _nativeContext);
        }
    }
}
