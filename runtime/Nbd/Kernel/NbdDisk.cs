using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Reactor;

namespace NativeBdev.Nbd.Kernel;

/// <summary>A bdev attached to the kernel's /dev/nbdX (SPDK's nbd_start_disk): the kernel
/// driver gets one end of a socketpair (NBD_SET_SOCK) and the bdev's geometry, an OS thread of
/// the disk's own sits in ioctl(NBD_DO_IT) for the disk's whole life, and the other end is an
/// <see cref="NbdConnection"/> in transmission from the start (the driver sends no handshake)
/// on the thread that started the disk, its requests bdev I/O like any NBD client's.
///
/// Stopping is soft first: NBD_DISCONNECT (from an OS thread: the driver may wait to send)
/// makes the driver send NBD_CMD_DISC after the requests it has sent; the connection answers
/// those, then closes, and NBD_DO_IT returns. A driver that does not get there in
/// <see cref="HardStopAfterUs"/> has the socket closed under it, which fails its requests and
/// ends NBD_DO_IT at once. The disk holds its own descriptor of the bdev until NBD_DO_IT has
/// returned, so a bdev's destruction (nbdev_tgt's stop) waits for the kernel to let go.</summary>
internal sealed unsafe class NbdDisk : INbdConnectionOwner
{
    /// <summary>NBD_SET_SOCK answers EBUSY while the device's last user is still letting go:
    /// retried every 20 ms for a second, as SPDK does.</summary>
    private const long SetSockRetryUs = 20_000;
    private const int SetSockRetries = 50;
    private const long HardStopAfterUs = 10_000_000;

    private static readonly NbdServerOptions s_options = new()
    {
        MaxPayloadBytes = NbdKernelAbi.MaxRequestBytes,
        BufferBytes = (int)NbdKernelAbi.MaxRequestBytes,
        MaxRequestsInFlight = 128, // the driver's default queue depth
        MaxConnections = 1,
    };

    private enum State
    {
        Starting,
        Running,
        Stopping,
        Stopped,
    }

    private readonly LightweightThread _thread;
    private readonly NbdFlushQueue _flushes = new();
    private readonly List<Action> _stopped = new();
    private State _state = State.Starting;
    private BdevDesc? _desc;
    private int _devFd = -1;
    private int _kernelFd = -1;
    private NetSocket? _socket;
    private NbdConnection? _connection;
    private bool _connectionOpen;
    private Action<int>? _started;
    private Poller? _timer;
    private int _retriesLeft;
    private bool _hardStopped;
    private NbNative.NbdKernelOp* _doIt;        // NBD_DO_IT on its native thread
    private NbNative.NbdKernelOp* _disconnect;  // NBD_DISCONNECT on its native thread
    private Poller? _kernelPoll;                // watches both
    private bool _abandoned;                    // their threads were given up on: ops leak

    private NbdDisk(LightweightThread thread, string path, string bdevName)
    {
        _thread = thread;
        Path = path;
        BdevName = bdevName;
    }

    public string Path { get; }

    public string BdevName { get; }

    public LightweightThread Thread => _thread;

    public NbdServerOptions Options => s_options;

    /// <summary>Starts attaching <paramref name="bdevName"/> to <paramref name="path"/> on the
    /// current thread. 0: <paramref name="started"/> runs later on this thread with 0 (the disk
    /// serves) or -errno (nothing is left of it, <see cref="LastError"/> says why). -errno: it
    /// failed at once and <paramref name="started"/> never runs.</summary>
    public static int Start(string bdevName, string path, Action<int> started)
    {
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: start an NBD disk from inside nb_thread_poll or after nb_set_thread");
        }
        var disk = new NbdDisk(thread, path, bdevName);
        int rc = NbdDisks.Register(disk);
        if (rc != 0)
        {
            return rc;
        }
        rc = disk.Open();
        if (rc != 0)
        {
            disk.Release();
            return rc;
        }
        disk._started = started;
        disk._retriesLeft = SetSockRetries;
        disk.EnableKernel();
        return 0;
    }

    private int Open()
    {
        int rc = BdevRegistry.Open(BdevName, true, null, null, OnBdevEvent, out _desc);
        if (rc != 0)
        {
            return rc;
        }
        int* fds = stackalloc int[2];
        if (SocketAbi.socketpair(SocketAbi.AF_UNIX, SocketAbi.SOCK_STREAM | SocketAbi.SOCK_CLOEXEC, 0, fds) != 0)
        {
            return Failed("socketpair");
        }
        _kernelFd = fds[1];
        if (Libc.fcntl(fds[0], Libc.F_SETFL, Libc.O_NONBLOCK) != 0)
        {
            int e = Failed("fcntl(O_NONBLOCK) on the socketpair");
            Libc.close(fds[0]);
            return e;
        }
        rc = NetSocket.Adopt(fds[0], SocketAbi.AF_UNIX, s =>
        {
            _connection = new NbdConnection(this, s, transmissionOnly: true);
            return _connection;
        }, out _socket);
        if (rc != 0)
        {
            _connection = null;
            return rc;
        }
        _connectionOpen = true;
        Bdev.Bdev bdev = _desc!.Bdev;
        var export = new NbdExport(Path, BdevName, readOnly: false, description: "");
        NbdExportGeometry g = export.Geometry(bdev, s_options.MaxPayloadBytes);
        g = g with { Flags = (ushort)(g.Flags & NbdKernelAbi.KnownFlags) };
        rc = _connection!.AttachExport(export, g);
        if (rc != 0)
        {
            return rc;
        }
        rc = _flushes.Start(_thread, "nbd_disk");
        if (rc != 0)
        {
            return rc;
        }
        byte[] p = Encoding.UTF8.GetBytes(Path + "\0");
        fixed (byte* pp = p)
        {
            _devFd = Libc.open(pp, Libc.O_RDWR | Libc.O_DIRECT | Libc.O_CLOEXEC, 0);
        }
        return _devFd < 0 ? Failed($"open(\"{Path}\")") : 0;
    }

    private static int Failed(string what)
    {
        int e = Libc.LastErrno;
        return LastError.Set(e, $"{what} failed: {Libc.StrError(e)}");
    }

    // ------------------------------------------------------------------ starting

    /// <summary>Hands the kernel its socket and the geometry, then starts NBD_DO_IT.</summary>
    private void EnableKernel()
    {
        int rc = Libc.ioctl(_devFd, NbdKernelAbi.NBD_SET_SOCK, (void*)(nint)_kernelFd);
        if (rc != 0 && Libc.LastErrno == Errno.EBUSY && _retriesLeft-- > 0)
        {
            if (_timer == null && _thread.RegisterPoller("nbd_set_sock", SetSockRetryUs,
                    (nint)(delegate*<object?, int>)&RetryThunk, 0, this, managed: true, out _timer) != 0)
            {
                StartFailed(LastError.Set(Errno.EBUSY, $"{Path} is busy and no retry could be scheduled"));
            }
            return;
        }
        StopTimer();
        if (rc != 0)
        {
            StartFailed(Failed($"ioctl(NBD_SET_SOCK) on {Path}"));
            return;
        }
        rc = Configure();
        if (rc == 0)
        {
            rc = StartDoIt();
        }
        if (rc != 0)
        {
            Libc.ioctl(_devFd, NbdKernelAbi.NBD_CLEAR_SOCK, null);
            StartFailed(rc);
            return;
        }
        _state = State.Running;
        Log.Info($"nbd: bdev '{BdevName}' is {Path}");
        Action<int> started = _started!;
        _started = null;
        started(0);
        if (_stopped.Count > 0)
        {
            Stop(null); // a stop asked for while starting
        }
    }

    private static int RetryThunk(object? o)
    {
        ((NbdDisk)o!).EnableKernel();
        return 1;
    }

    private int Configure()
    {
        Bdev.Bdev bdev = _desc!.Bdev;
        if (Libc.ioctl(_devFd, NbdKernelAbi.NBD_SET_BLKSIZE, (void*)(nuint)bdev.BlockSize) != 0)
        {
            return Failed($"ioctl(NBD_SET_BLKSIZE, {bdev.BlockSize}) on {Path}");
        }
        if (Libc.ioctl(_devFd, NbdKernelAbi.NBD_SET_SIZE_BLOCKS, (void*)(nuint)bdev.BlockCount) != 0)
        {
            return Failed($"ioctl(NBD_SET_SIZE_BLOCKS, {bdev.BlockCount}) on {Path}");
        }
        if (Libc.ioctl(_devFd, NbdKernelAbi.NBD_SET_TIMEOUT, (void*)(nuint)NbdKernelAbi.IoTimeoutSeconds) != 0)
        {
            return Failed($"ioctl(NBD_SET_TIMEOUT) on {Path}");
        }
        ushort flags = _connection!.Geometry.Flags;
        if (Libc.ioctl(_devFd, NbdKernelAbi.NBD_SET_FLAGS, (void*)(nuint)flags) != 0)
        {
            return Failed($"ioctl(NBD_SET_FLAGS, 0x{flags:x}) on {Path}");
        }
        return 0;
    }

    private const long KernelPollUs = 10_000;

    /// <summary>NBD_DO_IT on a native thread (runtime/Native/nbd_do_it.c), watched by a poller.</summary>
    private int StartDoIt()
    {
        int rc = StartKernelOp(disconnect: false, out _doIt);
        if (rc != 0)
        {
            return rc;
        }
        if (_thread.RegisterPoller("nbd_kernel", KernelPollUs, (nint)(delegate*<object?, int>)&KernelPollThunk, 0,
                this, managed: true, out _kernelPoll) != 0)
        {
            // NBD_DO_IT runs and nothing would see it end: end it now, before the disk serves.
            Libc.ioctl(_devFd, NbdKernelAbi.NBD_CLEAR_SOCK, null);
            return LastError.Set(Errno.ENOMEM, $"no poller to watch NBD_DO_IT on {Path}");
        }
        return 0;
    }

    private int StartKernelOp(bool disconnect, out NbNative.NbdKernelOp* op)
    {
        op = (NbNative.NbdKernelOp*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(
            (nuint)sizeof(NbNative.NbdKernelOp));
        op->Fd = _devFd;
        op->Disconnect = disconnect ? 1 : 0;
        int rc;
        try
        {
            rc = NbNative.NbdKernelStart(op);
        }
        catch (DllNotFoundException)
        {
            rc = -Errno.ENOSYS; // JIT (unit tests): the library's own C functions are not there
        }
        if (rc != 0)
        {
            System.Runtime.InteropServices.NativeMemory.Free(op);
            op = null;
            string what = disconnect ? "NBD_DISCONNECT" : "NBD_DO_IT";
            return LastError.Set(-rc, $"no native thread for {what} on {Path}: {Libc.StrError(-rc)}");
        }
        return 0;
    }

    private static bool Running(NbNative.NbdKernelOp* op) => op != null && Volatile.Read(ref op->Done) == 0;

    private bool DoItRunning => !_abandoned && Running(_doIt);

    private bool Disconnecting => !_abandoned && Running(_disconnect);

    private static int KernelPollThunk(object? o)
    {
        ((NbdDisk)o!).Progress();
        return 0;
    }

    private void StartFailed(int rc)
    {
        int errno = LastError.Errno;
        string message = LastError.Message;
        Log.Info($"nbd: {Path}: {message}");
        Release();
        Action<int> started = _started!;
        _started = null;
        LastError.Set(errno, message);
        started(rc);
        RunStopped();
    }

    // ------------------------------------------------------------------ stopping

    /// <summary>Detaches the device (soft, then hard after 10 s); <paramref name="done"/> runs on
    /// the disk's thread once the kernel let go and the bdev is closed. From any thread.</summary>
    public void Stop(Action? done)
    {
        if (!_thread.IsCurrent)
        {
            var h = System.Runtime.InteropServices.GCHandle.Alloc(done);
            if (_thread.Send(&StopThunk, this, System.Runtime.InteropServices.GCHandle.ToIntPtr(h)) != 0)
            {
                h.Free();
                Log.Warn($"nbd: {Path}: its thread takes no messages; not stopped");
            }
            return;
        }
        if (_state == State.Stopped)
        {
            done?.Invoke();
            return;
        }
        if (done != null)
        {
            _stopped.Add(done);
        }
        if (_state != State.Running)
        {
            return; // starting (stops once running) or stopping already
        }
        _state = State.Stopping;
        Log.Info($"nbd: detaching {Path} from bdev '{BdevName}'");
        if (StartKernelOp(disconnect: true, out _disconnect) != 0)
        {
            Log.Warn($"nbd: {LastError.Message}: closing the socket of {Path}");
            HardStop();
        }
        if (_thread.RegisterPoller("nbd_stop", HardStopAfterUs, (nint)(delegate*<object?, int>)&DeadlineThunk, 0,
                this, managed: true, out _timer) != 0)
        {
            HardStop();
        }
        Progress();
    }

    private static void StopThunk(object? o, nint done)
    {
        var h = System.Runtime.InteropServices.GCHandle.FromIntPtr(done);
        var action = (Action?)h.Target;
        h.Free();
        ((NbdDisk)o!).Stop(action);
    }

    private static int DeadlineThunk(object? o)
    {
        var disk = (NbdDisk)o!;
        if (!disk._hardStopped)
        {
            Log.Warn($"nbd: {disk.Path} did not disconnect in {HardStopAfterUs / 1_000_000} s: closing its socket");
            disk.HardStop();
            return 1;
        }
        // The kernel threads are still out after another period: release without them.
        Log.Error($"nbd: the kernel threads of {disk.Path} have not returned; releasing the disk without them");
        disk._abandoned = true; // their ops stay allocated: the threads may still write them
        disk._devFd = -1;       // left open: a thread may still use the descriptor
        disk.Progress();
        return 1;
    }

    private void HardStop()
    {
        _hardStopped = true;
        _connection?.AbortAndFinish($"{Path} is being detached");
    }

    /// <summary>Moves the stop on as far as it can go: a disk whose NBD_DO_IT returned (stopped
    /// from here, disconnected by someone else, or its socket gone) ends its connection, and
    /// once nothing is out in the kernel or at the bdev the disk is released.</summary>
    private void Progress()
    {
        if (_state is State.Starting or State.Stopped)
        {
            return;
        }
        bool doIt = DoItRunning;
        if (!doIt && _doIt != null && _doIt->Rc != 0 && !_abandoned)
        {
            Log.Info($"nbd: NBD_DO_IT on {Path} returned {Libc.StrError(-_doIt->Rc)}");
            _doIt->Rc = 0;
        }
        if (!doIt && _connectionOpen)
        {
            if (_state == State.Running)
            {
                Log.Notice($"nbd: {Path} was disconnected by the kernel or another program");
                _state = State.Stopping;
            }
            _connection!.AbortAndFinish($"{Path} is disconnected");
            return; // Closed comes back here
        }
        if (doIt || _connectionOpen || Disconnecting)
        {
            return;
        }
        Release();
        RunStopped();
    }

    private void RunStopped()
    {
        _state = State.Stopped;
        Action[] waiters = _stopped.ToArray();
        _stopped.Clear();
        foreach (Action a in waiters)
        {
            a();
        }
    }

    /// <summary>Closes what is open. NBD_DO_IT is not running (never started, or returned).</summary>
    private void Release()
    {
        StopTimer();
        if (_kernelPoll != null)
        {
            _thread.UnregisterPoller(_kernelPoll);
            _kernelPoll = null;
        }
        if (!_abandoned)
        {
            System.Runtime.InteropServices.NativeMemory.Free(_doIt);
            System.Runtime.InteropServices.NativeMemory.Free(_disconnect);
        }
        _doIt = _disconnect = null;
        if (_connectionOpen)
        {
            _connection!.AbortAndFinish($"{Path} is released");
        }
        _flushes.Stop(_thread);
        if (_kernelFd >= 0)
        {
            Libc.close(_kernelFd);
            _kernelFd = -1;
        }
        if (_devFd >= 0)
        {
            Libc.close(_devFd);
            _devFd = -1;
        }
        if (_desc != null)
        {
            BdevRegistry.Close(_desc);
            _desc = null;
        }
        NbdDisks.Unregister(this);
    }

    private void StopTimer()
    {
        if (_timer != null)
        {
            _thread.UnregisterPoller(_timer);
            _timer = null;
        }
    }

    // ------------------------------------------------------------------ the connection's owner

    public void QueueFlush(NbdConnection c) => _flushes.Add(c);

    public void Closed(NbdConnection c)
    {
        _connectionOpen = false;
        Progress();
    }

    public void BdevGoing(NbdConnection c, string why) => Stop(null);

    public NbdExportView? FindView(ReadOnlySpan<byte> name) => null;

    public void ListViews(List<NbdExportView> views)
    {
    }

    private void OnBdevEvent(BdevEventType type, Bdev.Bdev bdev)
    {
        if (type == BdevEventType.Remove || type == BdevEventType.Failed)
        {
            Log.Info($"nbd: bdev '{bdev.Name}' is going away ({type}): detaching {Path}");
            Stop(null);
        }
    }
}
