using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>The metadata thread's own I/O to the store's base, awaitable: one I/O at a time (the
/// allocator is sequential), completed by the base on this thread, the continuation run inline
/// from that completion. Used for cluster allocation and release only, never for the overwrite
/// path.</summary>
internal sealed unsafe class LvolOwnerIo : IValueTaskSource<int>, IDisposable
{
    public const int BufferBytes = 1 << 20;

    private readonly BdevDesc _desc;
    private readonly IoChannel _channel;
    private ManualResetValueTaskSourceCore<int> _core;
    private GCHandle _self;

    private LvolOwnerIo(BdevDesc desc, IoChannel channel, byte* buffer)
    {
        _desc = desc;
        _channel = channel;
        Buffer = buffer;
        _self = GCHandle.Alloc(this);
    }

    /// <summary>1 MiB of DMA memory for the data the allocator copies or zeroes.</summary>
    public byte* Buffer { get; private set; }

    public LightweightThread Thread => _channel.Thread;

    /// <summary>On the thread that will use it.</summary>
    public static int Open(BdevDesc desc, out LvolOwnerIo? io)
    {
        io = null;
        byte* buf = (byte*)NbEnvironment.Dma!.Alloc(BufferBytes, 4096, zero: true);
        if (buf == null)
        {
            return LastError.Set(Errno.ENOMEM, "lvol store: no DMA memory for the allocator's buffer");
        }
        int rc = IoChannel.Get(desc.Bdev.IoDevice, out IoChannel? ch);
        if (rc != 0)
        {
            NbEnvironment.Dma!.Free(buf);
            return rc;
        }
        io = new LvolOwnerIo(desc, ch!, buf);
        return 0;
    }

    /// <summary>Reads or writes <paramref name="bytes"/> of <see cref="Buffer"/> at byte
    /// <paramref name="offset"/> of the base; the status (0 or -errno) when it is back.</summary>
    public ValueTask<int> Run(BdevIoType type, long offset, int bytes) => Run(type, Buffer, offset, bytes);

    public void ClearBuffer() => new Span<byte>(Buffer, BufferBytes).Clear();

    public void CopyToBuffer(byte[] data) => data.CopyTo(new Span<byte>(Buffer, data.Length));

    private ValueTask<int> Run(BdevIoType type, byte* buf, long offset, int bytes)
    {
        uint bs = _desc.Bdev.BlockSize;
        _core.Reset();
        buf = type is BdevIoType.Read or BdevIoType.Write ? buf : null; // unmap, write zeroes: no data
        int rc = ((BdevChannel)_channel.State!).Submit(_desc, type, null, 0, buf, (ulong)offset / bs,
            (ulong)bytes / bs, (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnDone,
            GCHandle.ToIntPtr(_self));
        return rc != 0 ? new ValueTask<int>(rc) : new ValueTask<int>(this, _core.Version);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnDone(BdevIo* io, int status, void* arg) => Done(io, status, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Done(BdevIo* io, int status, void* arg)
    {
        try
        {
            ((LvolOwnerIo)GCHandle.FromIntPtr((nint)arg).Target!)._core.SetResult(status);
        }
        catch (Exception e)
        {
            Log.Error($"lvol allocator: a completion failed: {e}");
        }
    }

    public int GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _core.OnCompleted(continuation, state, token, flags);

    /// <summary>On its thread: the channel is put and the buffer freed.</summary>
    public void Dispose()
    {
        _channel.Put();
        if (Buffer != null)
        {
            NbEnvironment.Dma!.Free(Buffer);
            Buffer = null;
        }
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }
}
