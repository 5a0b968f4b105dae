using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Uring;

/// <summary>One thread's io_uring, shared by every uring bdev channel on that thread (SPDK's
/// uring group channel): one ring, one poller and one io_uring_enter per poll however many
/// files the thread drives. Files take slots of a registered file table (fixed files: no
/// file reference taken per I/O); the DMA pool's regions are registered as fixed buffers.
/// The ring cannot overflow its completion queue: the thread's I/O pool, which bounds what
/// is in flight, is smaller than it. Two groups per thread at most: with and without
/// SQPOLL, which is a property of a ring.</summary>
internal sealed unsafe class UringGroup : IPerThreadState
{
    private const uint SqEntries = 256;
    private const uint CqEntries = 4096;
    private const int FileSlots = 256;

    public static readonly IoDevice Plain =
        new PerThreadDevice<UringGroup>("uring group", t => new UringGroup(t, sqPoll: false));
    public static readonly IoDevice SqPolled =
        new PerThreadDevice<UringGroup>("uring group (sqpoll)", t => new UringGroup(t, sqPoll: true));

    private readonly LightweightThread _thread;
    private readonly UringRing _ring;
    private Poller? _poller;
    private int _inFlight;
    private bool _fileTable;
    private readonly bool[] _slotUsed = new bool[FileSlots];
    // Registered DMA regions: [start, end), their buffer index is their position.
    private (nint Start, nint End)[] _buffers = [];

    private UringGroup(LightweightThread thread, bool sqPoll)
    {
        _thread = thread;
        _ring = new UringRing(sqPoll);
    }

    public bool HasFixedBuffers => _buffers.Length > 0;

    public int Start()
    {
        int rc = _ring.Init(SqEntries, CqEntries);
        if (rc != 0)
        {
            return rc;
        }
        // A sparse table (every slot -1) that files join and leave one by one.
        int* fds = stackalloc int[FileSlots];
        new Span<int>(fds, FileSlots).Fill(-1);
        _fileTable = IoUringAbi.Register(_ring.Fd, IoUringAbi.IORING_REGISTER_FILES, fds, FileSlots) == 0;
        RegisterDmaRegions();
        return _thread.RegisterPoller(_ring.SqPoll ? "uring_group_sqpoll" : "uring_group", 0,
            (nint)(delegate*<object?, int>)&PollThunk, 0, this, managed: true, out _poller);
    }

    /// <summary>Fixed buffers: each DMA region up to 1 GiB (the kernel's limit per buffer).
    /// Regions added later are not registered; I/O on them uses plain READ/WRITE.</summary>
    private void RegisterDmaRegions()
    {
        DmaRegion[] regions = NbEnvironment.Dma?.Regions() ?? [];
        var usable = new List<DmaRegion>();
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
        var iov = new Iovec[usable.Count];
        for (int i = 0; i < usable.Count; i++)
        {
            iov[i].Base = usable[i].Base;
            iov[i].Length = (nuint)usable[i].Size;
        }
        fixed (Iovec* p = iov)
        {
            if (IoUringAbi.Register(_ring.Fd, IoUringAbi.IORING_REGISTER_BUFFERS, p, (uint)usable.Count) != 0)
            {
                Log.Info($"uring on thread '{_thread.Name}': DMA regions not registered as fixed buffers " +
                         $"({Libc.StrError(Libc.LastErrno)})");
                return;
            }
        }
        var b = new (nint, nint)[usable.Count];
        for (int i = 0; i < usable.Count; i++)
        {
            b[i] = ((nint)usable[i].Base, (nint)(usable[i].Base + usable[i].Size));
        }
        _buffers = b;
    }

    /// <summary>The index of the registered buffer holding [p, p+len), or -1.</summary>
    public int BufferIndex(byte* p, nuint len)
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

    /// <summary>A slot of the file table for <paramref name="fd"/>, or -1: the file then
    /// goes in each SQE as a plain descriptor.</summary>
    public int AddFile(int fd)
    {
        if (!_fileTable)
        {
            return -1;
        }
        int slot = Array.IndexOf(_slotUsed, false);
        if (slot < 0 || UpdateSlot(slot, fd) != 0)
        {
            return -1;
        }
        _slotUsed[slot] = true;
        return slot;
    }

    public void RemoveFile(int slot)
    {
        if (slot >= 0)
        {
            UpdateSlot(slot, -1);
            _slotUsed[slot] = false;
        }
    }

    private int UpdateSlot(int slot, int fd)
    {
        var update = new IoUringAbi.FilesUpdate { Offset = (uint)slot, Fds = (ulong)&fd };
        return IoUringAbi.Register(_ring.Fd, IoUringAbi.IORING_REGISTER_FILES_UPDATE, &update, 1) == 1 ? 0 : -1;
    }

    /// <summary>A submission queue entry, or null when the kernel cannot take more now.</summary>
    public IoUringAbi.Sqe* NextSqe(out int rc)
    {
        rc = 0;
        IoUringAbi.Sqe* sqe = _ring.NextSqe();
        if (sqe == null)
        {
            // SQ full: hand what is queued to the kernel, which frees the slots.
            rc = _ring.Submit(needCompletions: false);
            sqe = rc >= 0 ? _ring.NextSqe() : null;
        }
        return sqe;
    }

    public void Queued() => _inFlight++;

    private struct Completer : ICqeHandler
    {
        public void Handle(ulong userData, int res)
        {
            var io = (BdevIo*)userData;
            BdevChannel channel = BdevChannel.FromIo(io);
            int status = 0;
            if (res < 0)
            {
                status = res;
            }
            else if ((io->Type == BdevIoType.Read || io->Type == BdevIoType.Write) &&
                     (ulong)res != io->NumBlocks * channel.Bdev.BlockSize)
            {
                status = -Errno.EIO; // short transfer: the range was checked, so the device failed
            }
            channel.Complete(io, status);
        }
    }

    private static int PollThunk(object? o) => ((UringGroup)o!).Poll();

    /// <summary>Reaps completions of every file of the thread, then hands every SQE queued
    /// meanwhile — including those the completion callbacks queued — to the kernel in one
    /// io_uring_enter (which also runs pending completion task work).</summary>
    public int Poll()
    {
        if (_inFlight == 0)
        {
            return 0;
        }
        var c = new Completer();
        int n = _ring.Reap(ref c, 1024);
        _inFlight -= n;
        Invariant.Assert(_inFlight >= 0, "more io_uring completions than submissions");
        int rc = _ring.Submit(needCompletions: _inFlight > 0 && !_ring.HasCompletions);
        if (rc < 0)
        {
            Log.Error($"uring on thread '{_thread.Name}': io_uring_enter failed: {Libc.StrError(-rc)}");
        }
        return n;
    }

    public void Release()
    {
        Invariant.Assert(_inFlight == 0, "a uring group released with I/O in the kernel");
        if (_poller != null)
        {
            _thread.UnregisterPoller(_poller);
            _poller = null;
        }
        _ring.Dispose();
    }
}
