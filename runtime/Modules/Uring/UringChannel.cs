using System;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Uring;

/// <summary>A thread's io_uring for one bdev. Submit fills an SQE (user_data = the
/// BdevIo address) without a system call; Poll reaps completions from the CQ ring in user
/// space, then hands every SQE queued meanwhile — including those the completion callbacks
/// queued — to the kernel in one io_uring_enter. The file is registered, and so are the
/// DMA pool's regions, so buffers from it go out as READ_FIXED/WRITE_FIXED without the
/// kernel pinning pages per I/O.</summary>
internal sealed unsafe class UringChannel : BdevModuleChannel
{
    private const uint SqEntries = 256;
    private const uint CqEntries = 4096;

    private readonly UringBdev _bdev;
    private readonly UringRing _ring;
    private int _fd;
    private byte _fileFlags;
    private int _inFlight;
    // Registered DMA regions: [start, end) and their buffer index.
    private (nint Start, nint End)[] _buffers = Array.Empty<(nint, nint)>();

    public UringChannel(UringBdev bdev)
    {
        _bdev = bdev;
        _ring = new UringRing(bdev.SqPoll);
    }

    public int Init()
    {
        int rc = _ring.Init(SqEntries, CqEntries);
        if (rc != 0)
        {
            return rc;
        }
        int fd = _bdev.File.Fd;
        if (IoUringAbi.Register(_ring.Fd, IoUringAbi.IORING_REGISTER_FILES, &fd, 1) == 0)
        {
            _fd = 0;
            _fileFlags = IoUringAbi.IOSQE_FIXED_FILE;
        }
        else
        {
            _fd = fd;
        }
        RegisterDmaRegions();
        return 0;
    }

    /// <summary>Fixed buffers: each DMA region up to 1 GiB (the kernel's limit per buffer).
    /// Regions added later are not registered; I/O on them uses plain READ/WRITE.</summary>
    private void RegisterDmaRegions()
    {
        DmaRegion[] regions = NbEnvironment.Dma?.Regions() ?? Array.Empty<DmaRegion>();
        var usable = new System.Collections.Generic.List<DmaRegion>();
        foreach (DmaRegion r in regions)
        {
            if (r.Size <= 1L << 30)
            {
                usable.Add(r);
            }
        }
        if (usable.Count == 0)
        {
            return;
        }
        Iovec* iov = stackalloc Iovec[usable.Count];
        for (int i = 0; i < usable.Count; i++)
        {
            iov[i].Base = usable[i].Base;
            iov[i].Length = (nuint)usable[i].Size;
        }
        if (IoUringAbi.Register(_ring.Fd, IoUringAbi.IORING_REGISTER_BUFFERS, iov, (uint)usable.Count) != 0)
        {
            Log.Info($"uring '{_bdev.Name}': DMA regions not registered as fixed buffers ({Libc.StrError(Libc.LastErrno)})");
            return;
        }
        var b = new (nint, nint)[usable.Count];
        for (int i = 0; i < usable.Count; i++)
        {
            b[i] = ((nint)usable[i].Base, (nint)(usable[i].Base + usable[i].Size));
        }
        _buffers = b;
    }

    private int BufferIndex(byte* p, nuint len)
    {
        (nint Start, nint End)[] b = _buffers;
        for (int i = 0; i < b.Length; i++)
        {
            if ((nint)p >= b[i].Start && (nint)(p + len) <= b[i].End)
            {
                return i;
            }
        }
        return -1;
    }

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        IoUringAbi.Sqe* sqe = _ring.NextSqe();
        if (sqe == null)
        {
            // SQ full: hand what is queued to the kernel, which frees the slots.
            int rc = _ring.Submit(needCompletions: false);
            sqe = rc >= 0 ? _ring.NextSqe() : null;
            if (sqe == null)
            {
                channel.Complete(io, rc < 0 ? rc : -Errno.EAGAIN);
                return;
            }
        }
        uint bs = _bdev.BlockSize;
        sqe->Fd = _fd;
        sqe->Flags = _fileFlags;
        sqe->UserData = (ulong)io;
        sqe->Off = io->OffsetBlocks * bs;
        switch (io->Type)
        {
            case BdevIoType.Read:
            case BdevIoType.Write:
                bool write = io->Type == BdevIoType.Write;
                if (io->IovCount == 1)
                {
                    byte* buf = io->Iovs[0].Base;
                    nuint len = io->Iovs[0].Length;
                    int index = _buffers.Length > 0 ? BufferIndex(buf, len) : -1;
                    sqe->Addr = (ulong)buf;
                    sqe->Len = (uint)len;
                    if (index >= 0)
                    {
                        sqe->Opcode = write ? IoUringAbi.IORING_OP_WRITE_FIXED : IoUringAbi.IORING_OP_READ_FIXED;
                        sqe->BufIndex = (ushort)index;
                    }
                    else
                    {
                        sqe->Opcode = write ? IoUringAbi.IORING_OP_WRITE : IoUringAbi.IORING_OP_READ;
                    }
                }
                else
                {
                    sqe->Opcode = write ? IoUringAbi.IORING_OP_WRITEV : IoUringAbi.IORING_OP_READV;
                    sqe->Addr = (ulong)io->Iovs;
                    sqe->Len = (uint)io->IovCount;
                }
                break;
            case BdevIoType.Flush:
                sqe->Opcode = IoUringAbi.IORING_OP_FSYNC;
                sqe->OpFlags = IoUringAbi.IORING_FSYNC_DATASYNC;
                sqe->Off = 0;
                break;
            case BdevIoType.Unmap:
            case BdevIoType.WriteZeroes:
                sqe->Opcode = IoUringAbi.IORING_OP_FALLOCATE;
                sqe->Addr = io->NumBlocks * bs; // length
                sqe->Len = (uint)(IoUringAbi.FALLOC_FL_KEEP_SIZE | (io->Type == BdevIoType.Unmap
                    ? IoUringAbi.FALLOC_FL_PUNCH_HOLE : IoUringAbi.FALLOC_FL_ZERO_RANGE));
                break;
            default: // Reset: the bdev layer has drained every I/O; nothing is queued in the kernel
                sqe->Opcode = IoUringAbi.IORING_OP_NOP;
                break;
        }
        _inFlight++;
    }

    private struct Completer : ICqeHandler
    {
        public BdevChannel Channel;
        public uint BlockSize;
        public int Done;

        public void Handle(ulong userData, int res)
        {
            var io = (BdevIo*)userData;
            int status = 0;
            if (res < 0)
            {
                status = res;
            }
            else if ((io->Type == BdevIoType.Read || io->Type == BdevIoType.Write) &&
                     (ulong)res != io->NumBlocks * BlockSize)
            {
                status = -Errno.EIO; // short transfer: the range was checked, so the device failed
            }
            Done++;
            Channel.Complete(io, status);
        }
    }

    public override bool NeedsPoller => true;

    public override int Poll(BdevChannel channel)
    {
        if (_inFlight == 0)
        {
            return 0;
        }
        var c = new Completer { Channel = channel, BlockSize = _bdev.BlockSize };
        int n = _ring.Reap(ref c, 1024);
        _inFlight -= n;
        // Everything queued since the last poll (including by the callbacks just run) goes
        // to the kernel in one call; the same call runs pending completion task work.
        int rc = _ring.Submit(needCompletions: _inFlight > 0 && !_ring.HasCompletions);
        if (rc < 0)
        {
            Log.Error($"uring '{_bdev.Name}': io_uring_enter failed: {Libc.StrError(-rc)}");
        }
        return n;
    }

    public override void Destroy() => _ring.Dispose();
}
