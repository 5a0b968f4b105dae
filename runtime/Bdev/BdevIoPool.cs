using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>One thread's <see cref="BdevIo"/> pool and io-wait queue, shared by every bdev
/// channel on that thread (SPDK's per-thread bdev_io cache and the io_wait queue of its
/// bdev management channel): a thread with a thousand bdev channels holds one pool, not a
/// thousand. Part of <see cref="BdevThread"/>. Touched only by its own thread.</summary>
internal sealed unsafe class BdevIoPool
{
    /// <summary>I/Os per thread; a submission beyond it gets -ENOMEM (then
    /// nb_bdev_queue_io_wait).</summary>
    public static int Size = 2048;

    private readonly LightweightThread _thread;
    private readonly byte* _memory;
    private readonly int _capacity;
    private readonly int _stride;
    private IoQueue _free = new(IoQueueName.Free);
    // I/Os beyond Size held back for completion callbacks: the I/O being completed is freed
    // after its callback (so the callback can still read it), and without a reserve a
    // callback resubmitting into a full pool would get -ENOMEM. Each callback level opens
    // one: a vbdev's completion runs inside its base I/O's, so a stack of Reserve bdevs
    // can still resubmit from a full pool.
    private const int Reserve = 4;
    private int _callbackDepth;
    private readonly Queue<(nint Entry, nint Fn, nint Arg)> _waiters = new(64);
    // The entries queued now: SPDK links the caller's entry into its list, so queueing one
    // twice corrupts it; here the second is refused (-EBUSY) instead of running twice.
    private readonly HashSet<nint> _waiting = new();

    public BdevIoPool(LightweightThread thread)
    {
        _thread = thread;
        _capacity = Size + Reserve;
        _stride = BdevModules.IoStride;
        nuint bytes = (nuint)_capacity * (nuint)_stride;
        _memory = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_memory, bytes);
        for (int i = _capacity - 1; i >= 0; i--)
        {
            _free.PushHead(At(i));
        }
        BdevIoRegistry.Add(_memory, _capacity, _stride);
    }

    public LightweightThread Thread => _thread;
    public int Capacity => _capacity;
    /// <summary>I/Os a submission can still take (the callback reserve excluded).</summary>
    public int FreeCount => Math.Max(0, _free.Count - Held);

    /// <summary>I/Os a submission may not take now: the reserve, less one for each
    /// completion callback running (each may take one).</summary>
    private int Held => Reserve - _callbackDepth;
    /// <summary>I/Os taken and not yet returned, on any channel of this thread.</summary>
    public int InUse => _capacity - _free.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BdevIo* At(int i) => (BdevIo*)(_memory + (nint)i * _stride);

    /// <summary>A free I/O, or null (LastError set) when the pool is exhausted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BdevIo* Take()
    {
        int free = _free.Count;
        if (free <= Held || free == 0)
        {
            return Exhausted();
        }
        BdevIo* io = _free.Pop();
        Invariant.Assert(io->State == BdevIo.StateFree, "an I/O on the free list is not free");
        return io;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static BdevIo* Exhausted()
    {
        LastError.Set(Errno.ENOMEM, "no free bdev_io on this thread (use nb_bdev_queue_io_wait)");
        return null;
    }

    /// <summary>Lets the callback of the I/O being completed take one reserved I/O.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OpenReserve() => _callbackDepth++;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CloseReserve()
    {
        _callbackDepth--;
        Invariant.Assert(_callbackDepth >= 0, "a reserve closed that was never opened");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Return(BdevIo* io)
    {
        Invariant.Assert(io->Queue == IoQueueName.None, "an I/O returned to the pool is still on a queue");
        io->State = BdevIo.StateFree;
        _free.PushHead(io);
        if (_waiters.Count > 0)
        {
            RunWaiters();
        }
    }

    // ---------------------------------------------------------------- io wait

    /// <summary>spdk_bdev_queue_io_wait: fn(arg) runs on this thread once an I/O is free.
    /// <paramref name="entry"/> (the caller's, non-zero) may be queued once at a time.</summary>
    public int QueueIoWait(nint entry, nint fn, nint arg)
    {
        if (FreeCount > 0)
        {
            return LastError.Set(Errno.EINVAL, "the thread has free I/Os: submit instead of waiting");
        }
        if (!_waiting.Add(entry))
        {
            return LastError.Set(Errno.EBUSY,
                $"io wait entry 0x{entry:x} is already queued (its callback runs once; queue it again from there)");
        }
        _waiters.Enqueue((entry, fn, arg));
        return 0;
    }

    private void RunWaiters()
    {
        // Bounded: each waiter gets one call per free I/O.
        int n = System.Math.Min(_waiters.Count, FreeCount);
        for (int i = 0; i < n && FreeCount > 0; i++)
        {
            (nint entry, nint fn, nint arg) = _waiters.Dequeue();
            _waiting.Remove(entry);
            ((delegate* unmanaged[Cdecl]<void*, void>)fn)((void*)arg);
        }
    }

    public void Release()
    {
        if (InUse > 0)
        {
            // An I/O a backend never completed still points here (a channel put with I/O
            // that did not finish within its drain): keep the memory rather than let the
            // backend write into freed memory.
            Log.Error($"thread '{_thread.Name}': {InUse} bdev I/Os never completed; their pool is leaked");
            return;
        }
        BdevIoRegistry.Remove(_memory);
        NativeMemory.AlignedFree(_memory);
    }
}
