using System;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>Event types, numbered as SPDK's enum spdk_bdev_event_type.</summary>
internal enum BdevEventType
{
    Remove = 0,
    Resize = 1,
    MediaManagement = 2,
    Failed = 3, // the device monitor retired the bdev (a NativeBdev extension)
}

/// <summary>An open of a bdev (spdk_bdev_desc): read-only or writable, with an event
/// callback that runs on the thread that opened it.</summary>
internal sealed unsafe class BdevDesc
{
    public readonly Bdev Bdev;
    public readonly bool Writable;
    public readonly LightweightThread Thread;
    public nint Handle;
    public bool Closed;

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
