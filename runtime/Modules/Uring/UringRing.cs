using System;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Uring;

/// <summary>One io_uring, its three mappings, and the two halves of the protocol: fill
/// SQEs and publish the tail (release), read CQEs up to the tail (acquire) and publish the
/// head. Owned by one lightweight thread, so no locks; the kernel is the only other party
/// and the barriers are the ones the io_uring ABI prescribes.</summary>
internal sealed unsafe class UringRing : IDisposable
{
    public int Fd { get; private set; } = -1;
    public uint Features { get; private set; }
    public bool SqPoll { get; }

    private byte* _sqRing, _cqRing;
    private nuint _sqRingSize, _cqRingSize, _sqesSize;
    private IoUringAbi.Sqe* _sqes;
    private uint* _sqHead, _sqTail, _sqFlags, _sqArray;
    private uint _sqMask, _sqEntries;
    private uint* _cqHead, _cqTail;
    private IoUringAbi.Cqe* _cqes;
    private uint _cqMask;
    private uint _localTail;   // SQEs filled, not yet published
    private uint _published;   // tail the kernel has seen

    public UringRing(bool sqPoll) => SqPoll = sqPoll;

    public int Init(uint entries, uint cqEntries)
    {
        IoUringAbi.Params p = default;
        p.Flags = IoUringAbi.IORING_SETUP_CQSIZE | IoUringAbi.IORING_SETUP_CLAMP;
        p.CqEntries = cqEntries;
        if (SqPoll)
        {
            p.Flags |= IoUringAbi.IORING_SETUP_SQPOLL;
            p.SqThreadIdle = 1000; // ms before the kernel thread sleeps
        }
        else
        {
            // Completions that need task work are run when this thread next enters the
            // kernel anyway, and IORING_SQ_TASKRUN tells us when it must.
            p.Flags |= IoUringAbi.IORING_SETUP_COOP_TASKRUN | IoUringAbi.IORING_SETUP_TASKRUN_FLAG;
        }
        int fd = IoUringAbi.Setup(entries, &p);
        if (fd < 0 && !SqPoll)
        {
            p.Flags &= ~(IoUringAbi.IORING_SETUP_COOP_TASKRUN | IoUringAbi.IORING_SETUP_TASKRUN_FLAG);
            fd = IoUringAbi.Setup(entries, &p); // kernels before 5.19
        }
        if (fd < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, e switch
            {
                Errno.EPERM or Errno.ENOSYS =>
                    $"io_uring is not available ({Libc.StrError(e)}; see sysctl kernel.io_uring_disabled)",
                // Each thread driving uring bdevs holds one ring: one file descriptor.
                Errno.EMFILE => "io_uring_setup failed: the process has no file descriptor left (EMFILE; each " +
                                "thread with uring bdevs holds a ring fd): raise the open-file limit (ulimit -n, " +
                                "RLIMIT_NOFILE)",
                Errno.ENFILE => "io_uring_setup failed: the system has no file descriptor left (ENFILE): raise " +
                                "/proc/sys/fs/file-max",
                Errno.ENOMEM => "io_uring_setup failed: no memory for the rings (ENOMEM; rings count against " +
                                "locked memory on older kernels): raise ulimit -l (RLIMIT_MEMLOCK)",
                _ => $"io_uring_setup failed: {Libc.StrError(e)}",
            });
        }
        Fd = fd;
        Features = p.Features;
        _sqRingSize = p.SqOff.Array + p.SqEntries * sizeof(uint);
        _cqRingSize = p.CqOff.Cqes + p.CqEntries * (uint)sizeof(IoUringAbi.Cqe);
        bool single = (p.Features & IoUringAbi.IORING_FEAT_SINGLE_MMAP) != 0;
        if (single)
        {
            _sqRingSize = _cqRingSize = Math.Max(_sqRingSize, _cqRingSize);
        }
        _sqRing = Map(_sqRingSize, IoUringAbi.IORING_OFF_SQ_RING);
        _cqRing = single ? _sqRing : Map(_cqRingSize, IoUringAbi.IORING_OFF_CQ_RING);
        _sqesSize = p.SqEntries * (nuint)sizeof(IoUringAbi.Sqe);
        _sqes = (IoUringAbi.Sqe*)Map(_sqesSize, IoUringAbi.IORING_OFF_SQES);
        if (_sqRing == null || _cqRing == null || _sqes == null)
        {
            int e = Libc.LastErrno;
            Dispose();
            return LastError.Set(Errno.ENOMEM, $"cannot map io_uring rings: {Libc.StrError(e)}");
        }
        _sqHead = (uint*)(_sqRing + p.SqOff.Head);
        _sqTail = (uint*)(_sqRing + p.SqOff.Tail);
        _sqFlags = (uint*)(_sqRing + p.SqOff.Flags);
        _sqArray = (uint*)(_sqRing + p.SqOff.Array);
        _sqMask = *(uint*)(_sqRing + p.SqOff.RingMask);
        _sqEntries = *(uint*)(_sqRing + p.SqOff.RingEntries);
        _cqHead = (uint*)(_cqRing + p.CqOff.Head);
        _cqTail = (uint*)(_cqRing + p.CqOff.Tail);
        _cqMask = *(uint*)(_cqRing + p.CqOff.RingMask);
        _cqes = (IoUringAbi.Cqe*)(_cqRing + p.CqOff.Cqes);
        // The SQ index array maps slot i to SQE i once and for all.
        for (uint i = 0; i < _sqEntries; i++)
        {
            _sqArray[i] = i;
        }
        _localTail = _published = *_sqTail;
        return 0;
    }

    private byte* Map(nuint size, long offset)
    {
        void* m = Libc.mmap(null, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, Fd,
            offset);
        return (nint)m == Libc.MAP_FAILED ? null : (byte*)m;
    }

    /// <summary>SQEs filled but not yet handed to the kernel.</summary>
    public uint Pending => _localTail - _published;

    /// <summary>The next free SQE, zeroed, or null when the SQ is full (then
    /// <see cref="Submit"/> and try again).</summary>
    public IoUringAbi.Sqe* NextSqe()
    {
        uint head = Volatile.Read(ref *_sqHead);
        if (_localTail - head >= _sqEntries)
        {
            return null;
        }
        IoUringAbi.Sqe* sqe = &_sqes[_localTail & _sqMask];
        *sqe = default;
        _localTail++;
        return sqe;
    }

    /// <summary>Publishes the filled SQEs and enters the kernel if it must: to submit
    /// (without SQPOLL), to wake the SQ thread, or to run completion task work. Returns the
    /// number submitted or a negative errno.</summary>
    public int Submit(bool needCompletions)
    {
        uint toSubmit = _localTail - _published;
        if (toSubmit > 0)
        {
            Volatile.Write(ref *_sqTail, _localTail); // release: SQE contents before the tail
            _published = _localTail;
        }
        uint flags = 0;
        if (SqPoll)
        {
            Interlocked.MemoryBarrier(); // the tail store before the flags load (liburing's smp_mb)
            if ((Volatile.Read(ref *_sqFlags) & IoUringAbi.IORING_SQ_NEED_WAKEUP) != 0)
            {
                flags |= IoUringAbi.IORING_ENTER_SQ_WAKEUP;
            }
            else if (!needCompletions || (Volatile.Read(ref *_sqFlags) & IoUringAbi.IORING_SQ_TASKRUN) == 0)
            {
                return (int)toSubmit;
            }
            toSubmit = 0;
        }
        else if (toSubmit == 0)
        {
            if (!needCompletions || (Volatile.Read(ref *_sqFlags) &
                (IoUringAbi.IORING_SQ_TASKRUN | IoUringAbi.IORING_SQ_CQ_OVERFLOW)) == 0)
            {
                return 0;
            }
            flags |= IoUringAbi.IORING_ENTER_GETEVENTS;
        }
        int rc;
        do
        {
            rc = IoUringAbi.Enter(Fd, toSubmit, 0, flags);
        }
        while (rc < 0 && Libc.LastErrno == Errno.EINTR);
        return rc >= 0 ? rc : -Libc.LastErrno;
    }

    /// <summary>Hands each available CQE to <paramref name="handler"/> (at most
    /// <paramref name="max"/>), then releases them to the kernel.</summary>
    public int Reap<T>(ref T handler, int max) where T : struct, ICqeHandler
    {
        uint head = *_cqHead;
        uint tail = Volatile.Read(ref *_cqTail); // acquire: CQE contents after the tail
        int n = 0;
        while (head != tail && n < max)
        {
            IoUringAbi.Cqe* cqe = &_cqes[head & _cqMask];
            ulong data = cqe->UserData;
            int res = cqe->Res;
            head++;
            n++;
            // Release the slot before the handler runs: a callback may submit, and a
            // submission may need the kernel to post more completions.
            Volatile.Write(ref *_cqHead, head);
            handler.Handle(data, res);
        }
        return n;
    }

    public bool HasCompletions => *_cqHead != Volatile.Read(ref *_cqTail);

    public void Dispose()
    {
        if (_sqes != null)
        {
            Libc.munmap(_sqes, _sqesSize);
            _sqes = null;
        }
        if (_cqRing != null && _cqRing != _sqRing)
        {
            Libc.munmap(_cqRing, _cqRingSize);
        }
        _cqRing = null;
        if (_sqRing != null)
        {
            Libc.munmap(_sqRing, _sqRingSize);
            _sqRing = null;
        }
        if (Fd >= 0)
        {
            Libc.close(Fd);
            Fd = -1;
        }
    }
}
