using System;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Aio;

/// <summary>One thread's AIO context, shared by every aio bdev channel on that thread (SPDK's
/// aio group channel): one io_setup per thread, one poller, one io_submit per poll for all
/// files. The context holds as many events as the thread's I/O pool holds I/Os, so it
/// cannot overflow, and a machine's aio-max-nr is spent per thread, not per bdev. Poll
/// reaps completions from the ring the kernel maps at the context address — in user space,
/// as SPDK does, falling back to io_getevents where the ring is not readable.</summary>
internal sealed unsafe class AioGroup : IPerThreadState
{
    public static readonly IoDevice Device = new PerThreadDevice<AioGroup>("aio group", t => new AioGroup(t));

    private readonly LightweightThread _thread;
    private readonly int _events;
    private ulong _ctx;
    private AioAbi.Iocb** _queue;
    private int _queued;
    private AioAbi.IoEvent* _eventBuffer;
    private int _inFlight;
    private Poller? _poller;

    private AioGroup(LightweightThread thread)
    {
        _thread = thread;
        _events = BdevIoPool.Size + 16; // every I/O the thread's pool can have in flight
    }

    public int Start()
    {
        ulong ctx = 0;
        if (AioAbi.Setup((uint)_events, &ctx) != 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, e == Errno.EAGAIN
                ? $"io_setup refused {_events} events (EAGAIN: the machine's AIO events are used up, " +
                  $"fs.aio-nr {ReadSysctl("aio-nr")} of fs.aio-max-nr {ReadSysctl("aio-max-nr")}): each thread " +
                  $"that drives aio bdevs takes one context of {_events} events; raise /proc/sys/fs/aio-max-nr"
                : $"io_setup failed: {Libc.StrError(e)}");
        }
        _ctx = ctx;
        _queue = (AioAbi.Iocb**)NativeMemory.Alloc((nuint)_events, (nuint)sizeof(void*));
        _eventBuffer = (AioAbi.IoEvent*)NativeMemory.Alloc((nuint)_events, (nuint)sizeof(AioAbi.IoEvent));
        return _thread.RegisterPoller("aio_group", 0, (nint)(delegate*<object?, int>)&PollThunk, 0, this,
            managed: true, out _poller);
    }

    private static string ReadSysctl(string name)
    {
        try
        {
            return System.IO.File.ReadAllText("/proc/sys/fs/" + name).Trim();
        }
        catch (Exception)
        {
            return "?";
        }
    }

    /// <summary>Queues a filled iocb; the next poll submits it.</summary>
    public void Queue(AioAbi.Iocb* cb)
    {
        Invariant.Assert(_queued < _events, "more iocbs queued than the thread's pool has I/Os");
        _queue[_queued++] = cb;
        _inFlight++;
    }

    private static int PollThunk(object? o) => ((AioGroup)o!).Poll();

    public int Poll()
    {
        if (_inFlight == 0)
        {
            return 0;
        }
        int n = Reap();
        if (_queued > 0)
        {
            SubmitQueued();
        }
        return n;
    }

    private void SubmitQueued()
    {
        int done = 0;
        while (done < _queued)
        {
            int rc = AioAbi.Submit(_ctx, _queued - done, _queue + done);
            if (rc > 0)
            {
                done += rc;
                continue;
            }
            int e = rc < 0 ? Libc.LastErrno : Errno.EAGAIN;
            if (e == Errno.EINTR)
            {
                continue;
            }
            if (e == Errno.EAGAIN && done < _queued && _inFlight - (_queued - done) > 0)
            {
                break; // the context is full: keep the rest queued until completions free room
            }
            // The first iocb was refused outright (bad fd, EINVAL for an O_DIRECT misfit):
            // fail it and go on with the others.
            var io = (BdevIo*)_queue[done]->Data;
            _inFlight--;
            done++;
            BdevChannel.FromIo(io).Complete(io, -e);
        }
        if (done < _queued)
        {
            Buffer.MemoryCopy(_queue + done, _queue, (long)_queued * sizeof(void*),
                (long)(_queued - done) * sizeof(void*));
        }
        _queued -= done;
    }

    private int Reap()
    {
        var ring = (AioAbi.AioRing*)_ctx;
        int n = 0;
        if (ring->Magic == AioAbi.AioRingMagic && ring->IncompatFeatures == 0)
        {
            var events = (AioAbi.IoEvent*)((byte*)ring + ring->HeaderLength);
            uint head = ring->Head, nr = ring->Nr;
            uint tail = System.Threading.Volatile.Read(ref ring->Tail);
            while (head != tail)
            {
                AioAbi.IoEvent ev = events[head];
                head = (head + 1) % nr;
                System.Threading.Volatile.Write(ref ring->Head, head);
                Finish(ev);
                n++;
            }
            return n;
        }
        long* ts = stackalloc long[2] { 0, 0 };
        int got = AioAbi.GetEvents(_ctx, 0, _events, _eventBuffer, ts);
        for (int i = 0; i < got; i++)
        {
            Finish(_eventBuffer[i]);
        }
        return Math.Max(got, 0);
    }

    private void Finish(in AioAbi.IoEvent ev)
    {
        var io = (BdevIo*)ev.Data;
        BdevChannel channel = BdevChannel.FromIo(io);
        _inFlight--;
        int status = 0;
        if (ev.Res < 0)
        {
            status = (int)ev.Res;
        }
        else if ((io->Type == BdevIoType.Read || io->Type == BdevIoType.Write) &&
                 (ulong)ev.Res != io->NumBlocks * channel.Bdev.BlockSize)
        {
            status = -Errno.EIO;
        }
        channel.Complete(io, status);
    }

    public void Release()
    {
        Invariant.Assert(_inFlight == 0, "an AIO group released with I/O in the kernel");
        if (_poller != null)
        {
            _thread.UnregisterPoller(_poller);
            _poller = null;
        }
        if (_ctx != 0)
        {
            AioAbi.Destroy(_ctx);
            _ctx = 0;
        }
        NativeMemory.Free(_queue);
        NativeMemory.Free(_eventBuffer);
        _queue = null;
        _eventBuffer = null;
    }
}
