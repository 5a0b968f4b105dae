using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>Synchronous metadata I/O to an lvol store's base, for the management paths that the
/// factory's synchronous <c>Create</c> and the RPCs run (import, create, resize, close): a private
/// lightweight thread that nobody else polls (no reactor takes it) with its own channel of the
/// base, polled here until each I/O is back. Polling a private thread is safe from inside another
/// thread's poll (the poll restores the caller's thread), where polling the caller's own thread
/// would nest. The data path never comes here: it runs on its channels asynchronously.</summary>
internal sealed unsafe class LvolMdIo : IDisposable
{
    /// <summary>A metadata I/O that takes longer than this is a dead base, not a slow one.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>The bounce buffer: base bdevs may need DMA memory (uring with O_DIRECT).</summary>
    public const int ChunkBytes = 1 << 20;

    private readonly BdevDesc _desc;
    private readonly LightweightThread _thread;
    private IoChannel? _channel;
    private byte* _buffer;
    private int* _status;
    private readonly int _chunk;

    private LvolMdIo(BdevDesc desc, LightweightThread thread, int chunk)
    {
        _desc = desc;
        _thread = thread;
        _chunk = chunk;
    }

    public long Length => (long)_desc.Bdev.SizeBytes;

    public uint BlockSize => _desc.Bdev.BlockSize;

    /// <summary>Makes the thread, its channel of <paramref name="desc"/>'s bdev and the buffer.</summary>
    /// <param name="bufferBytes">the bounce buffer (a probe of the super block needs one page)</param>
    public static int Open(BdevDesc desc, out LvolMdIo? io, int bufferBytes = ChunkBytes)
    {
        io = null;
        int rc = LightweightThread.Create("lvs-md", null, out LightweightThread? t, 0, hostPolled: true);
        if (rc != 0)
        {
            return rc;
        }
        var m = new LvolMdIo(desc, t!, bufferBytes);
        m._buffer = (byte*)NbEnvironment.Dma!.Alloc(bufferBytes, 4096, zero: false);
        m._status = (int*)NativeMemory.Alloc(sizeof(int));
        if (m._buffer == null)
        {
            m.Dispose();
            return LastError.Set(Errno.ENOMEM, $"lvol store: no DMA memory for a {bufferBytes}-byte metadata buffer");
        }
        IoChannel? ch = null;
        rc = m.OnThread(() => IoChannel.Get(desc.Bdev.IoDevice, out ch));
        if (rc != 0)
        {
            m.Dispose();
            return rc;
        }
        m._channel = ch;
        io = m;
        return 0;
    }

    /// <summary>Reads <paramref name="into"/>.Length bytes at <paramref name="offset"/> (both whole
    /// blocks of the base). 0 or -errno.</summary>
    public int Read(long offset, Span<byte> into)
    {
        for (int done = 0; done < into.Length;)
        {
            int n = Math.Min(_chunk, into.Length - done);
            int rc = Run(BdevIoType.Read, offset + done, n);
            if (rc != 0)
            {
                return rc;
            }
            new ReadOnlySpan<byte>(_buffer, n).CopyTo(into[done..]);
            done += n;
        }
        return 0;
    }

    /// <summary>Writes <paramref name="from"/> at <paramref name="offset"/> (whole blocks).</summary>
    public int Write(long offset, ReadOnlySpan<byte> from)
    {
        for (int done = 0; done < from.Length;)
        {
            int n = Math.Min(_chunk, from.Length - done);
            from.Slice(done, n).CopyTo(new Span<byte>(_buffer, n));
            int rc = Run(BdevIoType.Write, offset + done, n);
            if (rc != 0)
            {
                return rc;
            }
            done += n;
        }
        return 0;
    }

    /// <summary>Writes <paramref name="bytes"/> zero bytes at <paramref name="offset"/> (clearing a
    /// new thick volume's clusters, a deleted blob's first page).</summary>
    public int Zero(long offset, long bytes)
    {
        new Span<byte>(_buffer, _chunk).Clear();
        for (long done = 0; done < bytes;)
        {
            int n = (int)Math.Min(_chunk, bytes - done);
            int rc = Run(BdevIoType.Write, offset + done, n);
            if (rc != 0)
            {
                return rc;
            }
            done += n;
        }
        return 0;
    }

    /// <summary>Copies <paramref name="bytes"/> from byte <paramref name="from"/> of the base to byte
    /// <paramref name="to"/> (a cluster copied for an inflate, a decouple or a snapshot's removal).</summary>
    public int Copy(long from, long to, long bytes)
    {
        for (long done = 0; done < bytes;)
        {
            int n = (int)Math.Min(_chunk, bytes - done);
            int rc = Run(BdevIoType.Read, from + done, n);
            if (rc != 0 || (rc = Run(BdevIoType.Write, to + done, n)) != 0)
            {
                return rc;
            }
            done += n;
        }
        return 0;
    }

    public int Flush() => Run(BdevIoType.Flush, 0, 0);

    /// <summary>An unmap or write zeroes of <paramref name="bytes"/> (at most 1 GiB) at
    /// <paramref name="offset"/>, whole blocks, no data (clearing: <see cref="LvolClear"/>).</summary>
    public int Discard(BdevIoType type, long offset, long bytes)
    {
        Invariant.Assert(type is BdevIoType.Unmap or BdevIoType.WriteZeroes && bytes <= LvolClear.ChunkBytes,
            "a discard is an unmap or write zeroes of at most one chunk");
        return Run(type, offset, (int)bytes);
    }

    private int Run(BdevIoType type, long offset, int bytes)
    {
        uint bs = BlockSize;
        if (offset % bs != 0 || bytes % bs != 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"lvol store: metadata I/O at {offset}+{bytes} is not in whole {bs}-byte blocks of the base");
        }
        *_status = 1; // pending: a completion writes 0 or a negative errno
        ulong blocks = type == BdevIoType.Flush ? _desc.Bdev.BlockCount : (ulong)bytes / bs;
        int rc = OnThread(() => ((BdevChannel)_channel!.State!).Submit(_desc, type, null, 0,
            type is BdevIoType.Read or BdevIoType.Write ? _buffer : null, (ulong)offset / bs, blocks,
            (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnDone, (nint)_status));
        if (rc != 0)
        {
            return rc;
        }
        if (!PollUntil(static s => *(int*)s != 1, (nint)_status))
        {
            return LastError.Set(Errno.ETIMEDOUT,
                $"lvol store: a metadata {type} of base '{_desc.Bdev.Name}' did not complete in {Deadline}");
        }
        rc = *_status;
        return rc == 0 ? 0 : LastError.Set(-rc, $"lvol store: metadata {type} at byte {offset} of '" +
            $"{_desc.Bdev.Name}' failed ({rc})");
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnDone(BdevIo* io, int status, void* arg) => Done(io, status, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Done(BdevIo* io, int status, void* arg)
    {
        try
        {
            *(int*)arg = status; // the status slot the polling loop watches
        }
        catch (Exception e)
        {
            Log.Error($"lvol store: a metadata completion failed: {e}");
        }
    }

    private int OnThread(Func<int> action)
    {
        if (_thread.Enter(out bool claimed, out int previous) != 0)
        {
            return LastError.Set(Errno.EBUSY, "lvol store: the metadata thread is owned elsewhere");
        }
        try
        {
            return action();
        }
        finally
        {
            _thread.Leave(claimed, previous);
        }
    }

    private bool PollUntil(Func<nint, bool> done, nint arg)
    {
        var sw = Stopwatch.StartNew();
        while (!done(arg))
        {
            if (sw.Elapsed > Deadline)
            {
                return false;
            }
            PollOnce();
        }
        return true;
    }

    private void PollOnce()
    {
        if (_thread.TryEnterPoll())
        {
            try
            {
                _thread.Poll(0, 0);
            }
            finally
            {
                _thread.ExitPoll();
            }
        }
    }

    /// <summary>Puts the channel, ends and destroys the private thread, frees the buffers.</summary>
    public void Dispose()
    {
        if (_channel != null)
        {
            IoChannel ch = _channel;
            _channel = null;
            OnThread(() => ch.Put());
        }
        _thread.RequestExit();
        var sw = Stopwatch.StartNew();
        while (!_thread.IsExited && sw.Elapsed < Deadline)
        {
            PollOnce();
        }
        if (_thread.IsExited)
        {
            _thread.Destroy();
        }
        else
        {
            Log.Warn("lvol store: the metadata thread did not exit; it is left behind");
        }
        if (_buffer != null)
        {
            NbEnvironment.Dma!.Free(_buffer);
            _buffer = null;
        }
        if (_status != null)
        {
            NativeMemory.Free(_status);
            _status = null;
        }
    }
}
