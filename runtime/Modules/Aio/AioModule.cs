using System;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Aio;

/// <summary>aio:///path?blk_size=&amp;direct=1&amp;readonly=0&amp;name=&amp;uuid= — a file or block
/// device through Linux native AIO, one context per thread (SPDK's bdev_aio). AIO has no
/// discard or zeroing command, so this backend reports read, write, flush and reset only.</summary>
internal sealed class AioModule : IBdevModule
{
    public string Name => "aio";
    public ReadOnlySpan<string> Schemes => new[] { "aio" };
    public unsafe int IoContextSize => sizeof(AioAbi.Iocb); // the iocb lives in the I/O

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        int rc = BackingFile.Open(uri, out BackingFile? file);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = uri.CheckAllUsed("blk_size, direct, readonly, name, uuid")) != 0)
        {
            file!.Dispose();
            return rc;
        }
        var bdev = new AioBdev(file!);
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            file!.Dispose();
            return rc;
        }
        name = bdev.Name;
        return 0;
    }
}

internal sealed unsafe class AioBdev : Bdev.Bdev
{
    internal readonly BackingFile File;

    public AioBdev(BackingFile file)
        : base(file.Name, "aio", file.BlockSize, file.BlockCount)
    {
        File = file;
        Uuid = file.Uuid;
        ProductName = file.IsBlockDevice ? "AIO block device" : "AIO file";
        RequiredAlignment = file.Alignment;
        WriteCache = !file.Direct;
    }

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Reset => true,
        BdevIoType.Write or BdevIoType.Flush => !File.ReadOnly,
        _ => false,
    };

    public override string DescribeDriver() => $"path={File.Path} direct={File.Direct} block_device={File.IsBlockDevice}";

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        var ch = new AioChannel(this);
        return ch.Init() == 0 ? ch : null;
    }

    public override void Destruct() => File.Dispose();
}

/// <summary>A thread's AIO context. Submit writes the iocb into the BdevIo's backend
/// context (an iocb is exactly its 64 bytes) and queues it; Poll reaps completions from the
/// ring the kernel maps at the context address — in user space, as SPDK does, falling back
/// to io_getevents where the ring is not readable — then submits every queued iocb in one
/// io_submit.</summary>
internal sealed unsafe class AioChannel : BdevModuleChannel
{
    private const int Events = 2048;

    private readonly AioBdev _bdev;
    private ulong _ctx;
    private AioAbi.Iocb** _queue;
    private int _queued;
    private AioAbi.IoEvent* _events;
    private int _inFlight;

    public AioChannel(AioBdev bdev) => _bdev = bdev;

    public int Init()
    {
        ulong ctx = 0;
        if (AioAbi.Setup(Events, &ctx) != 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, e == Errno.EAGAIN
                ? $"io_setup refused {Events} events: raise /proc/sys/fs/aio-max-nr"
                : $"io_setup failed: {Libc.StrError(e)}");
        }
        _ctx = ctx;
        _queue = (AioAbi.Iocb**)NativeMemory.Alloc((nuint)(BdevChannel.PoolSize + 1), (nuint)sizeof(void*));
        _events = (AioAbi.IoEvent*)NativeMemory.Alloc(Events, (nuint)sizeof(AioAbi.IoEvent));
        return 0;
    }

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        var cb = (AioAbi.Iocb*)BdevIo.DriverContext(io);
        *cb = default;
        cb->Data = (ulong)io;
        cb->Fildes = (uint)_bdev.File.Fd;
        cb->Offset = (long)(io->OffsetBlocks * _bdev.BlockSize);
        switch (io->Type)
        {
            case BdevIoType.Read:
            case BdevIoType.Write:
                bool write = io->Type == BdevIoType.Write;
                if (io->IovCount == 1)
                {
                    cb->LioOpcode = write ? AioAbi.IOCB_CMD_PWRITE : AioAbi.IOCB_CMD_PREAD;
                    cb->Buf = (ulong)io->Iovs[0].Base;
                    cb->NBytes = io->Iovs[0].Length;
                }
                else
                {
                    cb->LioOpcode = write ? AioAbi.IOCB_CMD_PWRITEV : AioAbi.IOCB_CMD_PREADV;
                    cb->Buf = (ulong)io->Iovs;
                    cb->NBytes = (ulong)io->IovCount;
                }
                break;
            case BdevIoType.Flush:
                cb->LioOpcode = AioAbi.IOCB_CMD_FDSYNC;
                cb->Offset = 0;
                break;
            default: // Reset: the bdev layer has drained every I/O; nothing is queued in the kernel
                channel.Complete(io, 0);
                return;
        }
        _queue[_queued++] = cb;
        _inFlight++;
    }

    public override bool NeedsPoller => true;

    public override int Poll(BdevChannel channel)
    {
        if (_inFlight == 0)
        {
            return 0;
        }
        int n = Reap(channel);
        if (_queued > 0)
        {
            SubmitQueued(channel);
        }
        return n;
    }

    private void SubmitQueued(BdevChannel channel)
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
            channel.Complete(io, -e);
        }
        if (done < _queued)
        {
            Buffer.MemoryCopy(_queue + done, _queue, (long)_queued * sizeof(void*), (long)(_queued - done) * sizeof(void*));
        }
        _queued -= done;
    }

    private int Reap(BdevChannel channel)
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
                Finish(channel, ev);
                n++;
            }
            return n;
        }
        long ts0 = 0, ts1 = 0;
        long* ts = stackalloc long[2] { ts0, ts1 };
        int got = AioAbi.GetEvents(_ctx, 0, Events, _events, ts);
        for (int i = 0; i < got; i++)
        {
            Finish(channel, _events[i]);
        }
        return Math.Max(got, 0);
    }

    private void Finish(BdevChannel channel, in AioAbi.IoEvent ev)
    {
        var io = (BdevIo*)ev.Data;
        _inFlight--;
        int status = 0;
        if (ev.Res < 0)
        {
            status = (int)ev.Res;
        }
        else if ((io->Type == BdevIoType.Read || io->Type == BdevIoType.Write) &&
                 (ulong)ev.Res != io->NumBlocks * _bdev.BlockSize)
        {
            status = -Errno.EIO;
        }
        channel.Complete(io, status);
    }

    public override void Destroy()
    {
        if (_ctx != 0)
        {
            AioAbi.Destroy(_ctx);
            _ctx = 0;
        }
        NativeMemory.Free(_queue);
        NativeMemory.Free(_events);
        _queue = null;
        _events = null;
    }
}
