using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>An open bdev with this thread's channel, for C# hosts: Mayastor's
/// BlockDeviceHandle. Each I/O returns a <see cref="ValueTask{Int32}"/> (0 or a negative
/// errno) backed by a pooled <see cref="IValueTaskSource{Int32}"/>, so awaiting I/O in a
/// loop allocates nothing once the pool is warm. Continuations run inline on the
/// lightweight thread that polls the completion; use it from that thread only.</summary>
internal sealed unsafe class BdevHandle : IDisposable
{
    public BdevDesc Descriptor { get; }
    public BdevChannel Channel { get; }
    public Bdev Bdev => Descriptor.Bdev;
    private readonly IoChannel _ioChannel;
    private readonly Stack<IoCompletionSource> _free = new(64);
    private bool _disposed;

    private BdevHandle(BdevDesc desc, IoChannel ch)
    {
        Descriptor = desc;
        _ioChannel = ch;
        Channel = (BdevChannel)ch.State!;
    }

    /// <summary>Opens <paramref name="name"/> on the current thread and gets its channel.</summary>
    public static int Open(string name, bool write, Action<BdevEventType, Bdev>? onEvent, out BdevHandle? handle)
    {
        handle = null;
        int rc = BdevRegistry.Open(name, write, null, null, onEvent ?? ((_, _) => { }), out BdevDesc? desc);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = IoChannel.Get(desc!.Bdev.IoDevice, out IoChannel? ch)) != 0)
        {
            BdevRegistry.Close(desc);
            return rc;
        }
        handle = new BdevHandle(desc, ch!);
        return 0;
    }

    public ValueTask<int> ReadAsync(void* buf, ulong offsetBlocks, ulong numBlocks) =>
        Submit(BdevIoType.Read, null, 0, buf, offsetBlocks, numBlocks);

    public ValueTask<int> WriteAsync(void* buf, ulong offsetBlocks, ulong numBlocks) =>
        Submit(BdevIoType.Write, null, 0, buf, offsetBlocks, numBlocks);

    public ValueTask<int> ReadvAsync(Iovec* iov, int iovcnt, ulong offsetBlocks, ulong numBlocks) =>
        Submit(BdevIoType.Read, iov, iovcnt, null, offsetBlocks, numBlocks);

    public ValueTask<int> WritevAsync(Iovec* iov, int iovcnt, ulong offsetBlocks, ulong numBlocks) =>
        Submit(BdevIoType.Write, iov, iovcnt, null, offsetBlocks, numBlocks);

    public ValueTask<int> UnmapAsync(ulong offsetBlocks, ulong numBlocks) =>
        Submit(BdevIoType.Unmap, null, 0, null, offsetBlocks, numBlocks);

    public ValueTask<int> WriteZeroesAsync(ulong offsetBlocks, ulong numBlocks) =>
        Submit(BdevIoType.WriteZeroes, null, 0, null, offsetBlocks, numBlocks);

    public ValueTask<int> FlushAsync(ulong offsetBlocks, ulong numBlocks) =>
        Submit(BdevIoType.Flush, null, 0, null, offsetBlocks, numBlocks);

    public ValueTask<int> ResetAsync() => Submit(BdevIoType.Reset, null, 0, null, 0, 0);

    private ValueTask<int> Submit(BdevIoType type, Iovec* iov, int iovcnt, void* buf, ulong offset, ulong num)
    {
        if (_disposed)
        {
            return new ValueTask<int>(LastError.Set(Errno.EBADF, "bdev handle is disposed"));
        }
        if (!Channel.Thread.IsCurrent)
        {
            return new ValueTask<int>(LastError.Set(Errno.EINVAL,
                "bdev handle is used from a thread that does not own it"));
        }
        IoCompletionSource src = _free.Count > 0 ? _free.Pop() : new IoCompletionSource(this);
        int rc = Channel.Submit(Descriptor, type, iov, iovcnt, buf, offset, num,
            (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnDone, src.Handle);
        if (rc != 0)
        {
            _free.Push(src);
            return new ValueTask<int>(rc);
        }
        return new ValueTask<int>(src, src.Version);
    }

    /// <summary>The argument is the source's GCHandle (made once per pooled source).
    /// Continuations run inline and an async method captures its own exceptions, so
    /// nothing is thrown back through the callback.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void OnDone(BdevIo* io, int status, void* arg) => Done(io, status, arg);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void Done(BdevIo* io, int status, void* arg)
    {
        try
        {
            ((IoCompletionSource)GCHandle.FromIntPtr((nint)arg).Target!).Complete(status);
        }
        catch (Exception e)
        {
            Log.Error($"BdevHandle completion failed: {e}");
        }
    }

    internal void Return(IoCompletionSource src)
    {
        if (_disposed)
        {
            src.Release(); // completed after Dispose: no longer pooled
            return;
        }
        _free.Push(src);
    }

    /// <summary>Puts the channel and closes the descriptor (SPDK order), on the owning thread.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _ioChannel.Put();
        BdevRegistry.Close(Descriptor);
        while (_free.Count > 0)
        {
            _free.Pop().Release();
        }
    }

    internal sealed class IoCompletionSource : IValueTaskSource<int>
    {
        private readonly BdevHandle _owner;
        private ManualResetValueTaskSourceCore<int> _core; // continuations run inline

        private GCHandle _self;

        public IoCompletionSource(BdevHandle owner)
        {
            _owner = owner;
            _self = GCHandle.Alloc(this);
        }

        /// <summary>The completion callback's argument.</summary>
        public nint Handle => GCHandle.ToIntPtr(_self);

        public void Release()
        {
            if (_self.IsAllocated)
            {
                _self.Free();
            }
        }

        public short Version => _core.Version;

        public void Complete(int status) => _core.SetResult(status);

        public int GetResult(short token)
        {
            int status = _core.GetResult(token);
            _core.Reset();
            _owner.Return(this);
            return status;
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token,
            ValueTaskSourceOnCompletedFlags flags) => _core.OnCompleted(continuation, state, token, flags);
    }
}
