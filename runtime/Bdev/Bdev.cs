using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

internal enum BdevState
{
    Registered,
    Removing,
    Removed,
}

/// <summary>A block device: SPDK's spdk_bdev plus its function table. A backend subclasses
/// it (identity set by the module's factory) and provides a per-thread channel. The bdev
/// layer owns registration, descriptors, claims, channels, statistics and events, so a
/// module never sees any of them.</summary>
internal abstract unsafe class Bdev
{
    public string Name { get; }
    public Guid Uuid { get; protected init; }
    public uint BlockSize { get; }
    private long _blockCount;
    public ulong BlockCount => (ulong)System.Threading.Volatile.Read(ref _blockCount);
    public ulong SizeBytes => BlockCount * BlockSize;
    /// <summary>Required buffer alignment in bytes (1 = none).</summary>
    public uint RequiredAlignment { get; protected init; } = 1;
    public string ProductName { get; protected init; } = "";
    public string ModuleName { get; }
    public bool WriteCache { get; protected init; }
    /// <summary>The device reads and writes host memory itself: every buffer must come from
    /// the DMA pool (nb_dma_malloc), and iovecs must meet at page boundaries.</summary>
    public bool NeedsDmaBuffers { get; protected init; }
    /// <summary>The device holds no data when it is created (a RAM disk, a null device): an
    /// examine has nothing to find on it and does not read it.</summary>
    public bool StartsBlank { get; protected init; }
    /// <summary>Blocks; I/O should not cross a multiple of it (0 = no boundary).</summary>
    public uint OptimalIoBoundary { get; protected init; }

    public nint Handle { get; private set; }
    public BdevState State { get; private set; }
    public bool Removing => State != BdevState.Registered;
    internal BdevIoDevice IoDevice { get; private set; } = null!;
    internal readonly List<BdevDesc> Descriptors = new();
    internal BdevDesc? ClaimedBy;
    /// <summary>This bdev's place in the registry's creation-order list while registered.</summary>
    internal LinkedListNode<Bdev>? RegistryNode;
    internal string? ClaimOwner;
    /// <summary>The bdev that made this one and re-creates it from its own config entry (a
    /// nexus's child made from a URI): save_config writes no entry for this bdev.</summary>
    internal volatile Bdev? ConfigOwner;
    internal readonly bool[] Supported = new bool[(int)BdevIoType.Count];
    internal readonly BdevStats RetiredStats = new(); // from channels already destroyed
    internal readonly List<(ulong Offset, ulong Blocks)> MediaEvents = new();
    /// <summary>Fault-injection rules, replaced whole when one is added or removed, so the
    /// I/O path reads it without a lock; null (the common case) costs one check per I/O.</summary>
    internal volatile FaultRule[]? Faults;
    /// <summary>Open descriptors with a timeout set (<see cref="BdevDesc.SetTimeout"/>), replaced
    /// whole on a change so that the channels' timeout scan reads it without a lock; null (the
    /// common case) when there are none, and then the channels do not scan.</summary>
    internal volatile BdevDesc[]? TimedDescriptors;
    private readonly object _timeoutLock = new();
    /// <summary>Descriptors with a timeout on any bdev: while 0, no thread looks for overdue
    /// I/O (not even reads its clock for it).</summary>
    internal static int AnyTimeoutDescriptors;
    /// <summary>1 once the device monitor has retired the bdev (see <see cref="DeviceMonitor"/>).</summary>
    internal int FailedFlag;
    internal string? FailureReason;
    public bool Failed => System.Threading.Volatile.Read(ref FailedFlag) != 0;
    /// <summary>Resets submitted on any channel and not yet completed. While non-zero, new
    /// I/O is held by its channel, so a reset drains only what was submitted before it.</summary>
    internal int PendingResets;
    private readonly List<Action<int>> _destroyCallbacks = new();
    private byte* _nameUtf8;

    protected Bdev(string name, string module, uint blockSize, ulong blockCount)
    {
        Name = name;
        ModuleName = module;
        BlockSize = blockSize;
        _blockCount = (long)blockCount;
        Uuid = Guid.NewGuid();
    }

    // ---- the function table a backend provides ----

    public abstract bool IoTypeSupported(BdevIoType type);

    /// <summary>Creates this thread's backend state. Null with LastError set on failure.</summary>
    public abstract BdevModuleChannel? CreateChannel(BdevChannel channel);

    /// <summary>Releases the backend once every descriptor and channel is gone.</summary>
    public abstract void Destruct();

    /// <summary>Checks an NVMe passthrough command (<paramref name="cmd"/>: 64 bytes) before
    /// it is accepted: 0 or -errno with LastError set.</summary>
    public virtual int CheckPassthru(BdevIoType type, byte* cmd, ulong nbytes) => 0;

    /// <summary>Writes the call that re-creates this bdev, as an SPDK config entry
    /// (<c>{"method": "bdev_malloc_create", "params": {...}}</c>: SPDK's write_config_json);
    /// bdevs that cannot be re-created from a config write nothing.</summary>
    public virtual void WriteConfig(System.Text.Json.Utf8JsonWriter writer)
    {
    }

    /// <summary>Backend-specific description for dumps (SPDK's dump_info_json).</summary>
    public virtual string DescribeDriver() => "";

    /// <summary>A hint for management code about to scan a range for nonzero data (an lvol
    /// store's replay reads its whole metadata region): [<paramref name="start"/>,
    /// <paramref name="end"/>) is the first range at or after <paramref name="offsetBytes"/> that
    /// may hold data; what lies before <paramref name="start"/> reads as zeros. A file-backed bdev
    /// asks the file system (lseek SEEK_DATA / SEEK_HOLE); the default says anything may hold
    /// data. Not for the I/O path: it may make a syscall.</summary>
    public virtual void DataExtent(ulong offsetBytes, out ulong start, out ulong end)
    {
        start = offsetBytes;
        end = SizeBytes;
    }

    /// <summary>Changes the size; modules that can resize override it. 0 or -errno.</summary>
    protected virtual int ResizeBackend(ulong newBlockCount) =>
        LastError.Set(Errno.ENOTSUP, $"bdev '{Name}' ({ModuleName}) cannot be resized");

    // ---- life cycle, called by the registry ----

    internal void Registered(nint handle)
    {
        Handle = handle;
        for (int t = 1; t < (int)BdevIoType.Count; t++)
        {
            Supported[t] = IoTypeSupported((BdevIoType)t);
        }
        IoDevice = new BdevIoDevice(this);
    }

    public byte* NameUtf8
    {
        get
        {
            if (_nameUtf8 == null)
            {
                byte[] b = Encoding.UTF8.GetBytes(Name);
                byte* p = (byte*)NativeMemory.AllocZeroed((nuint)b.Length + 1);
                b.CopyTo(new Span<byte>(p, b.Length));
                _nameUtf8 = p;
            }
            return _nameUtf8;
        }
    }

    internal void MarkRemoving(Action<int>? done)
    {
        Invariant.Assert(State == BdevState.Registered, "a bdev removed twice");
        State = BdevState.Removing;
        if (done != null)
        {
            _destroyCallbacks.Add(done);
        }
    }

    internal void AddDestroyCallback(Action<int> done) => _destroyCallbacks.Add(done);

    internal void Finished()
    {
        Invariant.Assert(State == BdevState.Removing, "a bdev finished that was not being removed");
        State = BdevState.Removed;
        FaultRegistry.Forget(this);
        Destruct();
        if (_nameUtf8 != null)
        {
            NativeMemory.Free(_nameUtf8);
            _nameUtf8 = null;
        }
        foreach (Action<int> cb in _destroyCallbacks)
        {
            cb(0);
        }
        _destroyCallbacks.Clear();
        BdevRegistry.ReturnMemoryWhenEmptied();
    }

    /// <summary>Resizes and tells every descriptor (SPDK_BDEV_EVENT_RESIZE). Shrinking
    /// below a claimed or open size is allowed, as in SPDK; I/O beyond the new end fails.</summary>
    public int Resize(ulong newBlockCount)
    {
        if (newBlockCount == 0 || newBlockCount > (1UL << 50) / BlockSize)
        {
            return LastError.Set(Errno.EINVAL,
                $"new size {newBlockCount} blocks must be at least one block and at most 1 PiB");
        }
        if (Removing)
        {
            return LastError.Set(Errno.ENODEV, $"bdev '{Name}' is being removed");
        }
        if (newBlockCount == BlockCount)
        {
            return 0;
        }
        int rc = ResizeBackend(newBlockCount);
        if (rc != 0)
        {
            return rc;
        }
        System.Threading.Volatile.Write(ref _blockCount, (long)newBlockCount);
        BdevRegistry.Notify(this, BdevEventType.Resize);
        return 0;
    }

    /// <summary>Sets a descriptor's timeout (0 ticks: none) and keeps
    /// <see cref="TimedDescriptors"/> in step; a closed descriptor takes none.</summary>
    internal int SetTimeout(BdevDesc desc, long ticks, bool abort,
        delegate* unmanaged[Cdecl]<void*, BdevIo*, void> callback, void* context)
    {
        lock (_timeoutLock)
        {
            if (desc.Closed)
            {
                return LastError.Set(Errno.EBADF, "descriptor is already closed");
            }
            desc.TimeoutCallback = callback;
            desc.TimeoutContext = context;
            desc.AbortOnTimeout = abort;
            desc.TimeoutTicks = ticks;
            BdevDesc[] timed = TimedDescriptors ?? [];
            bool listed = Array.IndexOf(timed, desc) >= 0;
            if (ticks > 0 && !listed)
            {
                TimedDescriptors = [.. timed, desc];
                System.Threading.Interlocked.Increment(ref AnyTimeoutDescriptors);
                BdevThread.WakeAllForTimeouts();
            }
            else if (ticks == 0 && listed)
            {
                ForgetTimeoutLocked(desc);
            }
            return 0;
        }
    }

    /// <summary>A descriptor closes: its timeout ends with it.</summary>
    internal void ForgetTimeout(BdevDesc desc)
    {
        lock (_timeoutLock)
        {
            desc.TimeoutTicks = 0;
            ForgetTimeoutLocked(desc);
        }
    }

    private void ForgetTimeoutLocked(BdevDesc desc)
    {
        BdevDesc[]? timed = TimedDescriptors;
        if (timed == null || Array.IndexOf(timed, desc) < 0)
        {
            return;
        }
        BdevDesc[] rest = Array.FindAll(timed, d => d != desc);
        TimedDescriptors = rest.Length == 0 ? null : rest;
        System.Threading.Interlocked.Decrement(ref AnyTimeoutDescriptors);
    }

    /// <summary>Merged statistics: every live channel's counters (read without stopping
    /// their threads: each counter is a 64-bit word written by one thread) plus the
    /// channels already gone.</summary>
    public BdevStats CollectStats()
    {
        var total = new BdevStats();
        lock (RetiredStats)
        {
            total.Add(RetiredStats);
        }
        foreach (IoChannel ch in IoDevice.ChannelSnapshot())
        {
            if (ch.State is BdevChannel bc)
            {
                total.Add(bc.Stats);
            }
        }
        return total;
    }

    internal int OutstandingIo()
    {
        int n = 0;
        foreach (IoChannel ch in IoDevice.ChannelSnapshot())
        {
            if (ch.State is BdevChannel bc)
            {
                n += bc.Outstanding;
            }
        }
        return n;
    }
}
