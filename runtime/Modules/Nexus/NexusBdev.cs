using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Nexus;

/// <summary>Mayastor's nexus: one bdev over N children that mirror each other. The children's
/// bdevs are opened (and claimed) through the public bdev API like any host's. Control
/// operations (add, remove, fault, online, retire) change child state under one lock, deliver
/// the child's event at once — before the I/O that caused a retire is acknowledged, so a
/// control plane records it first — and then reconfigure every channel by iteration, holding
/// new I/O until every channel has its new view. See <see cref="NexusChannel"/> for the I/O
/// rules and <see cref="NexusRebuild"/> for bringing a child back in sync.</summary>
internal sealed unsafe class NexusBdev : Bdev.Bdev
{
    public const int MaxChildren = 32;
    public const uint SegmentBytes = 64 * 1024;

    private readonly object _lock = new();
    private readonly NexusChild?[] _children = new NexusChild?[MaxChildren];
    private readonly Queue<NexusRebuild> _pendingRebuilds = new();
    private NexusRebuild? _rebuild;
    private readonly List<NexusRebuildRecord> _history = new();
    private long _rebuildRate;
    private volatile int _generation;

    /// <summary>How many ended rebuilds the history keeps (the oldest go first).</summary>
    public const int HistoryMax = 256;

    /// <summary>bdev_raid_create -r 1 made it: save_config writes that call, not nexus_create.</summary>
    public bool SavedAsRaid1 { get; set; }

    /// <summary>Channel iterations in progress: new I/O is held meanwhile.</summary>
    public volatile int Reconfiguring;
    /// <summary>A rebuild copies: writes count themselves per segment and respect range locks.</summary>
    public volatile int RebuildActive;
    /// <summary>A child is faulted or out of sync: every write is logged per segment.</summary>
    public volatile int LoggingActive;
    public volatile int LogEpoch;
    public readonly ulong SegmentBlocks;
    public readonly int Segments;
    public readonly NexusRangeLocks Locks;

    public int Generation => _generation;

    /// <summary>The host's child-state callback (C) and the core's (tests, RPC).</summary>
    private delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int, void*, void> _eventCb;
    private void* _eventCtx;
    public Action<NexusChild>? Listener { get; set; }

    /// <summary>state_file=PATH: writes are acknowledged only once the file records every child
    /// that became unhealthy before they completed.</summary>
    public NexusStateFile? StateFile { get; private set; }

    public NexusBdev(string name, uint blockSize, ulong blockCount, Guid uuid, uint alignment, bool dmaBuffers)
        : base(name, "nexus", blockSize, blockCount)
    {
        Uuid = uuid;
        RequiredAlignment = alignment;
        NeedsDmaBuffers = dmaBuffers;
        ProductName = "Nexus CAS Driver";
        SegmentBlocks = Math.Max(1, SegmentBytes / blockSize);
        Segments = (int)((blockCount + SegmentBlocks - 1) / SegmentBlocks);
        Locks = new NexusRangeLocks(Segments);
    }

    public void SetEventCallback(delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int, void*, void> cb, void* ctx)
    {
        lock (_lock)
        {
            _eventCb = cb;
            _eventCtx = ctx;
        }
    }

    /// <summary>Keeps the child states in <paramref name="path"/> from now on, after applying
    /// what it holds (made, before the nexus is registered): a child it records as unhealthy, or
    /// does not know, starts faulted (nb_nexus_online_child brings it back with a full rebuild).
    /// -EIO when no child would be left in sync.</summary>
    internal int UseStateFile(string path)
    {
        int rc = NexusStateFile.Open(path, Name, SnapshotState, out NexusStateFile? file,
            out List<NexusChildRecord>? records);
        if (rc != 0)
        {
            return rc;
        }
        if (records != null)
        {
            List<NexusChild> all = Children();
            bool anyHealthy = all.Exists(c => records.Exists(r => r.Healthy && (r.Uri == c.Uri || r.Name == c.Name)));
            if (!anyHealthy)
            {
                return LastError.Set(Errno.EIO,
                    $"state file '{path}' records no child of nexus '{Name}' in sync: none may serve reads");
            }
            lock (_lock)
            {
                foreach (NexusChild c in all)
                {
                    NexusChildRecord? r = records.Find(x => x.Uri == c.Uri || x.Name == c.Name);
                    if (r is { Healthy: true })
                    {
                        continue;
                    }
                    c.State = NexusChildState.Faulted;
                    c.Reason = r?.Reason is { } why && why != NexusFaultReason.None ? why : NexusFaultReason.Offline;
                    c.Synced = false;
                    c.LogEpoch = -1;
                    StartLogLocked();
                    _generation++;
                }
            }
        }
        StateFile = file;
        return 0;
    }

    private byte[] SnapshotState()
    {
        lock (_lock)
        {
            return NexusStateFile.Format(Name, Array.FindAll(_children, c => c != null)!);
        }
    }

    public NexusChild?[] ChildrenSnapshot()
    {
        lock (_lock)
        {
            return (NexusChild?[])_children.Clone();
        }
    }

    public List<NexusChild> Children()
    {
        var list = new List<NexusChild>();
        lock (_lock)
        {
            foreach (NexusChild? c in _children)
            {
                if (c != null)
                {
                    list.Add(c);
                }
            }
        }
        return list;
    }

    public NexusChild? FindChild(string nameOrUri)
    {
        lock (_lock)
        {
            foreach (NexusChild? c in _children)
            {
                if (c != null && (c.Name == nameOrUri || c.Uri == nameOrUri))
                {
                    return c;
                }
            }
        }
        return null;
    }

    public NexusRebuild? RebuildOf(NexusChild c)
    {
        lock (_lock)
        {
            return c.Rebuild;
        }
    }

    private int HealthyCountLocked()
    {
        int n = 0;
        foreach (NexusChild? c in _children)
        {
            if (c is { Healthy: true })
            {
                n++;
            }
        }
        return n;
    }

    // ---------------------------------------------------------------- children

    /// <summary>Opens and claims a child's bdev and puts it in a free slot, state Init.</summary>
    internal int AddChildSlot(string uri, Bdev.Bdev b, bool created, out NexusChild? child)
    {
        child = null;
        if (b.BlockSize != BlockSize)
        {
            return LastError.Set(Errno.EINVAL,
                $"child '{b.Name}' has {b.BlockSize}-byte blocks, nexus '{Name}' {BlockSize}");
        }
        if (b.BlockCount < BlockCount)
        {
            return LastError.Set(Errno.ENOSPC,
                $"child '{b.Name}' has {b.BlockCount} blocks, nexus '{Name}' needs {BlockCount}");
        }
        foreach (BdevIoType t in new[] { BdevIoType.Unmap, BdevIoType.WriteZeroes })
        {
            if (Supported[(int)t] && !b.IoTypeSupported(t))
            {
                return LastError.Set(Errno.EINVAL, $"child '{b.Name}' does not take {t}, which nexus '{Name}' offers");
            }
        }
        int slot = -1;
        lock (_lock)
        {
            for (int i = 0; i < MaxChildren; i++)
            {
                if (_children[i] != null && _children[i]!.Bdev == b)
                {
                    return LastError.Set(Errno.EEXIST, $"'{b.Name}' is already a child of nexus '{Name}'");
                }
                if (_children[i] == null && slot < 0)
                {
                    slot = i;
                }
            }
        }
        if (slot < 0)
        {
            return LastError.Set(Errno.ENOSPC, $"nexus '{Name}' has {MaxChildren} children already");
        }
        var c = new NexusChild(slot, b.Name, uri, created, b);
        int rc = OpenChild(c);
        if (rc != 0)
        {
            c.Dispose();
            return rc;
        }
        lock (_lock)
        {
            if (_children[slot] != null)
            {
                CloseChild(c);
                c.Dispose();
                return LastError.Set(Errno.EBUSY, $"nexus '{Name}' changed meanwhile: try again");
            }
            _children[slot] = c;
        }
        if (created)
        {
            b.ConfigOwner = this; // the nexus's config entry makes it again from its URI
        }
        child = c;
        return 0;
    }

    private int OpenChild(NexusChild c)
    {
        int rc = BdevRegistry.Open(c.Bdev.Name, write: true, null, null, (type, _) => OnChildEvent(c, type),
            out BdevDesc? d);
        if (rc == 0 && (rc = BdevRegistry.Claim(d!, "nexus " + Name)) != 0)
        {
            BdevRegistry.Close(d!);
        }
        if (rc == 0)
        {
            c.Desc = d;
        }
        return rc;
    }

    private static void CloseChild(NexusChild c)
    {
        if (c.Desc is { Closed: false } d)
        {
            BdevRegistry.Close(d);
        }
    }

    /// <summary>The child's bdev is going away (hot-removed): it is faulted offline even when it
    /// is the last healthy one (nothing can read it any more), detached, and its descriptor
    /// closed so that the removal can finish.
    /// A bdev that failed for good (retired: an NVMe-oF controller past its ctrlr_loss_timeout)
    /// is treated the same way, and destroyed when the nexus made it, as SPDK deletes such a
    /// controller: nb_nexus_online_child makes it again from its URI.</summary>
    private void OnChildEvent(NexusChild c, BdevEventType type)
    {
        if (type != BdevEventType.Remove && type != BdevEventType.Failed)
        {
            return;
        }
        lock (_lock)
        {
            if (c.State == NexusChildState.Closed || (type == BdevEventType.Failed && c.Desc is not { Closed: false }))
            {
                return;
            }
            FaultLocked(c, NexusFaultReason.Offline);
        }
        Emit(c);
        Bdev.Bdev gone = c.Bdev;
        Reconfigure(_ =>
        {
            CloseChild(c);
            if (type == BdevEventType.Failed && c.CreatedByNexus && BdevRegistry.Find(gone.Name) == gone)
            {
                BdevRegistry.Destroy(gone.Name, null);
            }
        });
    }

    /// <summary>Faults <paramref name="c"/> (the caller holds the lock): the write log starts if
    /// it was not running, and the child remembers its epoch for a partial rebuild.</summary>
    private void FaultLocked(NexusChild c, NexusFaultReason reason)
    {
        bool wasSynced = c.Synced && c.State == NexusChildState.Open;
        bool wasFaulted = c.State == NexusChildState.Faulted;
        if (!wasFaulted)
        {
            StateFile?.ChildBecameUnhealthy();
        }
        c.State = NexusChildState.Faulted;
        c.Reason = reason;
        if (LoggingActive == 0)
        {
            LogEpoch++;
            LoggingActive = 1;
        }
        if (!wasFaulted)
        {
            // Faulted again (its bdev went away after an I/O error): what it missed is still
            // what the log has recorded since the first fault.
            c.LogEpoch = wasSynced ? LogEpoch : -1;
        }
        c.ResumeMap = null; // it may miss writes from now on
        CancelRebuildLocked(c);
        _generation++;
    }

    /// <summary>The child's rebuild ends: a running one at its next step (it reports itself), a
    /// queued one at once (recorded here; the queue skips it).</summary>
    private void CancelRebuildLocked(NexusChild c, bool byUser = false)
    {
        NexusRebuild? job = c.Rebuild;
        if (job == null)
        {
            return;
        }
        if (job == _rebuild)
        {
            if (byUser)
            {
                job.Stop();
            }
            else
            {
                job.Cancel();
            }
            return;
        }
        job.EndUnstarted();
        c.Rebuild = null;
        RecordLocked(job);
    }

    private void RecordLocked(NexusRebuild job)
    {
        if (_history.Count == HistoryMax)
        {
            _history.RemoveAt(0);
        }
        _history.Add(new NexusRebuildRecord(job.Target.Name, job.Target.Uri, job.Source?.Uri, job.Source?.Name,
            job.State, job.Partial, job.BlocksTotal, job.BlocksCopied, BlockSize, SegmentBlocks,
            job.Started == DateTime.MinValue ? job.Created : job.Started, job.Ended));
    }

    /// <summary>An I/O failed on <paramref name="c"/>: Mayastor's retire. False when it is the
    /// last healthy child, which is never faulted (the I/O fails instead). The event is
    /// delivered before this returns, so before the I/O completes.</summary>
    public bool Retire(NexusChild c, NexusFaultReason reason)
    {
        lock (_lock)
        {
            if (c.State != NexusChildState.Open)
            {
                return true;
            }
            if (c.Healthy && HealthyCountLocked() == 1)
            {
                return false;
            }
            FaultLocked(c, reason);
        }
        Log.Warn($"nexus '{Name}': child '{c.Name}' retired ({NexusChild.ReasonName(reason)})");
        Emit(c);
        Reconfigure(null);
        return true;
    }

    /// <summary>nb_nexus_fault_child: the administrator faults a child; refused (-EBUSY) for
    /// the last healthy one.</summary>
    public int Fault(string child, NexusFaultReason reason)
    {
        NexusChild? c = FindChild(child);
        if (c == null)
        {
            return LastError.Set(Errno.ENOENT, $"nexus '{Name}' has no child '{child}'");
        }
        lock (_lock)
        {
            if (c.State == NexusChildState.Faulted)
            {
                return 0;
            }
            if (c.State != NexusChildState.Open)
            {
                return LastError.Set(Errno.EINVAL, $"child '{c.Name}' is {NexusChild.StateName(c.State)}, not open");
            }
            if (c.Healthy && HealthyCountLocked() == 1)
            {
                return LastError.Set(Errno.EBUSY, $"child '{c.Name}' is the last healthy child of nexus '{Name}'");
            }
            FaultLocked(c, reason);
        }
        Emit(c);
        return Reconfigure(null);
    }

    /// <summary>nb_nexus_online_child: a faulted child comes back, out of sync; a partial
    /// rebuild (the segments written since it was faulted) when the log still covers it, a full
    /// one otherwise. A child whose bdev went away is made again from its URI.</summary>
    public int Online(string child)
    {
        NexusChild? c = FindChild(child);
        if (c == null)
        {
            return LastError.Set(Errno.ENOENT, $"nexus '{Name}' has no child '{child}'");
        }
        if (c.State == NexusChildState.Open)
        {
            return 0;
        }
        if (c.State != NexusChildState.Faulted)
        {
            return LastError.Set(Errno.EINVAL, $"child '{c.Name}' is {NexusChild.StateName(c.State)}, not faulted");
        }
        int rc;
        bool vouched = true;
        if (c.Desc is not { Closed: false })
        {
            // Its bdev went away. What comes back holds what the write log can vouch for only
            // if it is the same device: a bdev with the old one's UUID (a replica's namespace on
            // a target that restarted, as Mayastor knows a replica by its UUID) kept what it
            // had; anything else (another bdev of the name, a fresh device) is rebuilt in full.
            Guid had = c.Bdev.Uuid;
            if ((rc = NexusModule.ResolveChild(c.Uri, out Bdev.Bdev? b, out bool made)) != 0)
            {
                return rc;
            }
            if (made && c.CreatedByNexus)
            {
                b!.ConfigOwner = this;
            }
            c.Bdev = b!;
            vouched = had != Guid.Empty && b!.Uuid == had;
            if ((rc = OpenChild(c)) != 0)
            {
                return rc;
            }
        }
        bool partial;
        lock (_lock)
        {
            partial = vouched && c.LogEpoch >= 0 && c.LogEpoch == LogEpoch;
        }
        return BeginRebuild(c, partial);
    }

    /// <summary>nb_nexus_add_child: a new child joins out of sync and is fully rebuilt; with
    /// <paramref name="rebuild"/> false (Mayastor's norebuild) it stays out of sync, taking
    /// writes, until <see cref="StartRebuild(string)"/>.</summary>
    public int AddChild(string uri, bool rebuild = true)
    {
        int rc = NexusModule.ResolveChild(uri, out Bdev.Bdev? b, out bool created);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = AddChildSlot(uri, b!, created, out NexusChild? c)) != 0)
        {
            if (created)
            {
                BdevRegistry.Destroy(b!.Name, null);
            }
            return rc;
        }
        if (!rebuild)
        {
            lock (_lock)
            {
                c!.State = NexusChildState.Open;
                c.Synced = false;
                StartLogLocked();
                _generation++;
            }
            Emit(c!);
            return Reconfigure(null);
        }
        return BeginRebuild(c!, partial: false);
    }

    /// <summary>nb_nexus_remove_child: closed, detached, its descriptor closed and, if the nexus
    /// made its bdev, the bdev destroyed. The last healthy child stays (-EBUSY).</summary>
    public int RemoveChild(string child)
    {
        NexusChild? c = FindChild(child);
        if (c == null)
        {
            return LastError.Set(Errno.ENOENT, $"nexus '{Name}' has no child '{child}'");
        }
        lock (_lock)
        {
            if (c.Healthy && HealthyCountLocked() == 1)
            {
                return LastError.Set(Errno.EBUSY, $"child '{c.Name}' is the last healthy child of nexus '{Name}'");
            }
            CancelRebuildLocked(c);
            c.State = NexusChildState.Closed;
            _generation++;
        }
        Emit(c);
        return Reconfigure(_ =>
        {
            lock (_lock)
            {
                _children[c.Index] = null;
            }
            CloseChild(c);
            if (c.CreatedByNexus)
            {
                BdevRegistry.Destroy(c.Bdev.Name, null);
            }
            c.Dispose();
        });
    }

    // ---------------------------------------------------------------- rebuild

    private void StartLogLocked()
    {
        if (LoggingActive == 0)
        {
            LogEpoch++;
            LoggingActive = 1;
        }
    }

    /// <summary>The rate limit of this nexus's rebuilds, bytes per second; 0: none.</summary>
    public long RebuildRate => System.Threading.Volatile.Read(ref _rebuildRate);

    /// <summary>Sets the rate limit (bytes per second, 0: none); a running rebuild takes it at
    /// its next segment.</summary>
    public int SetRebuildRate(long bytesPerSecond)
    {
        if (bytesPerSecond < 0)
        {
            return LastError.Set(Errno.EINVAL, $"rebuild rate {bytesPerSecond} is negative");
        }
        System.Threading.Volatile.Write(ref _rebuildRate, bytesPerSecond);
        return 0;
    }

    /// <summary>Rebuilds made from now on read each segment back from the target and compare it
    /// with the source's (a difference fails the rebuild).</summary>
    public bool RebuildVerify
    {
        get => _rebuildVerify;
        set => _rebuildVerify = value;
    }

    private volatile bool _rebuildVerify;

    /// <summary>The ended rebuilds, oldest first.</summary>
    public NexusRebuildRecord[] RebuildHistory()
    {
        lock (_lock)
        {
            return _history.ToArray();
        }
    }

    private int RebuildJob(string child, out NexusChild? c, out NexusRebuild? job)
    {
        job = null;
        c = FindChild(child);
        if (c == null)
        {
            return LastError.Set(Errno.ENOENT, $"nexus '{Name}' has no child '{child}'");
        }
        job = RebuildOf(c);
        return job != null ? 0 : LastError.Set(Errno.ENOENT, $"child '{c.Name}' of nexus '{Name}' has no rebuild");
    }

    /// <summary>Mayastor's PauseRebuild: no new segment starts (0 when it was paused already).</summary>
    public int PauseRebuild(string child)
    {
        int rc = RebuildJob(child, out _, out NexusRebuild? job);
        if (rc == 0)
        {
            job!.Pause();
        }
        return rc;
    }

    /// <summary>Mayastor's ResumeRebuild: the copy goes on (0 when it was not paused).</summary>
    public int ResumeRebuild(string child)
    {
        int rc = RebuildJob(child, out _, out NexusRebuild? job);
        if (rc == 0)
        {
            job!.Resume();
        }
        return rc;
    }

    /// <summary>Mayastor's StopRebuild: the job ends (recorded as stopped) and the child stays
    /// open and out of sync, taking writes and no reads, until a rebuild is started again.</summary>
    public int StopRebuild(string child)
    {
        int rc = RebuildJob(child, out NexusChild? c, out _);
        if (rc != 0)
        {
            return rc;
        }
        bool queued;
        lock (_lock)
        {
            queued = c!.Rebuild != null && c.Rebuild != _rebuild;
            CancelRebuildLocked(c, byUser: true);
            _generation++;
        }
        if (queued)
        {
            Emit(c);
        }
        return 0;
    }

    /// <summary>Mayastor's StartRebuild: a rebuild of an open, out-of-sync child that has none:
    /// of what a stopped one left (a partial rebuild), or full (added without one, or stopped
    /// before it knew what to copy). -EEXIST while one runs or waits, -EINVAL for a
    /// child in sync or not open (a faulted child is brought back by Online).</summary>
    public int StartRebuild(string child)
    {
        NexusChild? c = FindChild(child);
        if (c == null)
        {
            return LastError.Set(Errno.ENOENT, $"nexus '{Name}' has no child '{child}'");
        }
        lock (_lock)
        {
            if (c.Rebuild != null)
            {
                return LastError.Set(Errno.EEXIST, $"child '{c.Name}' of nexus '{Name}' is being rebuilt already");
            }
            if (c.State != NexusChildState.Open)
            {
                return LastError.Set(Errno.EINVAL, $"child '{c.Name}' is {NexusChild.StateName(c.State)}, not open" +
                                                   (c.State == NexusChildState.Faulted ? ": online it" : ""));
            }
            if (c.Synced)
            {
                return LastError.Set(Errno.EINVAL, $"child '{c.Name}' of nexus '{Name}' is in sync");
            }
        }
        ulong[]? remainder;
        lock (_lock)
        {
            remainder = c.ResumeMap;
        }
        return BeginRebuild(c, partial: false, remainder);
    }

    private int BeginRebuild(NexusChild c, bool partial, ulong[]? remainder = null)
    {
        var job = new NexusRebuild(this, c, partial, remainder);
        lock (_lock)
        {
            c.State = NexusChildState.Open;
            c.Reason = NexusFaultReason.None;
            c.Synced = false;
            c.Rebuild = job;
            StartLogLocked();
            _generation++;
        }
        Emit(c);
        bool startNow;
        lock (_lock)
        {
            startNow = _rebuild == null;
            if (startNow)
            {
                _rebuild = job;
            }
            else
            {
                _pendingRebuilds.Enqueue(job);
            }
        }
        // Writers attach the child first; the copy starts once every channel has it.
        return Reconfigure(_ =>
        {
            if (startNow)
            {
                job.Start();
            }
        });
    }

    /// <summary>A rebuild is over (done, failed or cancelled): the next queued one starts, and the
    /// write log stops when every child is healthy again.</summary>
    internal void RebuildEnded(NexusRebuild job, bool synced)
    {
        NexusChild c = job.Target;
        NexusRebuild? next = null;
        lock (_lock)
        {
            if (c.Rebuild == job)
            {
                c.Rebuild = null;
                c.ResumeMap = job.StoppedByUser && c.State == NexusChildState.Open ? job.Remainder() : null;
                if (synced && c.State == NexusChildState.Open)
                {
                    c.Synced = true;
                }
                else if (!synced && c.State == NexusChildState.Open && !job.StoppedByUser)
                {
                    FaultLocked(c, NexusFaultReason.RebuildFailed);
                }
            }
            RecordLocked(job);
            if (_rebuild == job)
            {
                _rebuild = null;
                while (_pendingRebuilds.Count > 0 && next == null)
                {
                    NexusRebuild q = _pendingRebuilds.Dequeue();
                    if (!q.Cancelled)
                    {
                        next = q;
                    }
                }
                _rebuild = next;
            }
            bool allWell = true;
            foreach (NexusChild? k in _children)
            {
                if (k != null && k.State != NexusChildState.Closed && !k.Healthy)
                {
                    allWell = false;
                }
            }
            if (allWell)
            {
                LoggingActive = 0;
            }
            _generation++;
        }
        Log.Notice($"nexus '{Name}': rebuild of '{c.Name}' {NexusRebuildRecord.StateName(job.State)}: " +
                   $"{job.SegmentsCopied} of {job.SegmentsTotal} segments copied");
        if (Removing)
        {
            return; // the nexus is going: no channel is left to tell
        }
        Emit(c);
        Reconfigure(null);
        next?.Start();
    }

    // ---------------------------------------------------------------- events, reconfiguration

    private void Emit(NexusChild c)
    {
        delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int, void*, void> cb;
        void* ctx;
        lock (_lock)
        {
            cb = _eventCb;
            ctx = _eventCtx;
        }
        StateFile?.Changed();
        Listener?.Invoke(c);
        if (cb != null)
        {
            cb(NameUtf8, c.NameUtf8, (int)c.State, (int)c.Reason, c.Synced ? 1 : 0, ctx);
        }
    }

    /// <summary>Every channel refreshes its view of the children (on its own thread); new I/O is
    /// held until all have. <paramref name="done"/> runs on the calling thread afterwards.</summary>
    public int Reconfigure(Action<int>? done)
    {
        if (LightweightThread.Current == null)
        {
            return LastError.Set(Errno.EINVAL, "no current thread: nexus changes run on a thread");
        }
        System.Threading.Interlocked.Increment(ref Reconfiguring);
        return IoDevice.ForEachChannel(
            static ch =>
            {
                if ((ch.State as BdevChannel)?.Module is NexusChannel n)
                {
                    n.Refresh();
                }
                return 0;
            },
            status =>
            {
                System.Threading.Interlocked.Decrement(ref Reconfiguring);
                done?.Invoke(status);
            });
    }

    /// <summary>Runs <paramref name="fn"/> on every channel's module, then <paramref name="done"/>.</summary>
    public int ForEachNexusChannel(Action<NexusChannel> fn, Action done) =>
        IoDevice.ForEachChannel(ch =>
        {
            if ((ch.State as BdevChannel)?.Module is NexusChannel n)
            {
                fn(n);
            }
            return 0;
        }, _ => done());

    // ---------------------------------------------------------------- the function table

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Write or BdevIoType.Flush or BdevIoType.Reset => true,
        BdevIoType.Unmap or BdevIoType.WriteZeroes => AllChildrenTake(type),
        _ => false,
    };

    private bool AllChildrenTake(BdevIoType type)
    {
        foreach (NexusChild c in Children())
        {
            if (!c.Bdev.IoTypeSupported(type))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>save_config: nexus_create (or bdev_raid_create -r 1 for a nexus made that way)
    /// over the healthy children, the rebuild options (verify, the rate limit), then
    /// nexus_add_child for each other child, so that a child that was faulted or out of sync
    /// comes back through a full rebuild (under those options) rather than as a reader. A child
    /// the nexus made is named by its URI (and writes no entry of its own), any other by its
    /// bdev's name (and left out when that bdev is gone). When no child is healthy all are
    /// written as members: nothing better is left to read.</summary>
    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer)
    {
        // A child whose bdev went away and that the nexus cannot make again (it was named, not
        // made from a URI) is left out: its entry would fail the whole load.
        List<NexusChild> all = Children().FindAll(c => c.State != NexusChildState.Closed &&
            (c.CreatedByNexus || BdevRegistry.Find(c.Bdev.Name) is { Removing: false }));
        List<NexusChild> members = all.FindAll(c => c.Healthy);
        if (members.Count == 0)
        {
            members = all;
        }
        if (members.Count == 0)
        {
            return;
        }
        static string Text(NexusChild c) => c.CreatedByNexus ? c.Uri : c.Bdev.Name;
        if (SavedAsRaid1)
        {
            BdevConfig.Entry(writer, "bdev_raid_create", w =>
            {
                w.WriteString("name", Name);
                w.WriteString("uuid", Uuid.ToString());
                w.WriteNumber("strip_size_kb", 0);
                w.WriteString("raid_level", "raid1");
                w.WriteStartArray("base_bdevs");
                members.ForEach(c => w.WriteStringValue(Text(c)));
                w.WriteEndArray();
            });
        }
        else
        {
            BdevConfig.Entry(writer, "nexus_create", w =>
            {
                w.WriteString("name", Name);
                w.WriteString("uuid", Uuid.ToString());
                w.WriteNumber("size", BlockCount * BlockSize);
                if (StateFile != null)
                {
                    w.WriteString("state_file", StateFile.Path);
                }
                w.WriteStartArray("children");
                members.ForEach(c => w.WriteStringValue(Text(c)));
                w.WriteEndArray();
            });
        }
        if (RebuildVerify)
        {
            BdevConfig.Entry(writer, "nexus_set_rebuild_verify", w =>
            {
                w.WriteString("name", Name);
                w.WriteBoolean("verify", true);
            });
        }
        if (RebuildRate > 0)
        {
            BdevConfig.Entry(writer, "nexus_set_rebuild_rate", w =>
            {
                w.WriteString("name", Name);
                w.WriteNumber("max_bytes_per_sec", RebuildRate);
            });
        }
        foreach (NexusChild c in all)
        {
            if (!members.Contains(c))
            {
                BdevConfig.Entry(writer, "nexus_add_child", w =>
                {
                    w.WriteString("name", Name);
                    w.WriteString("uri", Text(c));
                    w.WriteBoolean("norebuild", false);
                });
            }
        }
    }

    public override string DescribeDriver() => "children=" + string.Join(",", Children());

    public override BdevModuleChannel? CreateChannel(BdevChannel channel) => new NexusChannel(this, channel);

    public override void Destruct()
    {
        StateFile?.Stop();
        foreach (NexusChild c in Children())
        {
            c.Rebuild?.Cancel();
            CloseChild(c);
            if (c.CreatedByNexus)
            {
                BdevRegistry.Destroy(c.Bdev.Name, null);
            }
            c.Dispose();
        }
        lock (_lock)
        {
            Array.Clear(_children);
        }
    }
}
