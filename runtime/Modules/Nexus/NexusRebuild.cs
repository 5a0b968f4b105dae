using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Nexus;

/// <summary>Brings an out-of-sync child in sync (Mayastor's rebuild job): segments of 64 KiB
/// copied from a healthy child, 16 in flight, each under a range lock against new writes. Runs
/// on the thread that started it, with its own channels on both children and DMA buffers made
/// once. Steps: every channel attaches the target as a writer (the nexus's reconfiguration);
/// writes started before that drain; a partial rebuild merges every thread's write log into the
/// segments to copy (a full one copies all); then the copy. Writes the host makes meanwhile go
/// to the target too, so a segment copied once stays in sync.
///
/// The administrator's controls (Mayastor's): Pause starts no new segment (those in flight
/// finish, no range stays locked, the host's writes keep reaching the target), Resume goes on
/// from the cursor, Stop ends the job and leaves the child out of sync (open, taking writes,
/// no reads: Mayastor's degraded) until a rebuild is started again. The nexus's rate limit
/// (bytes per second) is a token bucket of one segment: a segment starts once the time since
/// the last one has earned its bytes. With the nexus's verify on (when the job is made), each
/// segment is read back from the target after its write, still under its range lock, and
/// compared with what was read from the source: a difference fails the rebuild (Mayastor's
/// verify mode "fail"), and the child is faulted rebuild_failed.</summary>
internal sealed unsafe class NexusRebuild
{
    public const int InFlight = NexusRangeLocks.Slots;

    private enum Stage
    {
        Idle,
        Draining,
        Merging,
        Copying,
        Ending,
        Ended,
    }

    private sealed class Slot
    {
        public NexusRebuild Job = null!;
        public int Index;
        public byte* Buffer;
        public byte* Check; // the verify pass's read-back of the target (verify only)
        public long Segment = -1;
        public int Step; // 0 free, 1 locked (waiting for writes to leave), 2 reading, 3 writing
        public NexusChild? From;
        public GCHandle Self;
    }

    private readonly NexusBdev _nexus;
    public readonly NexusChild Target;
    public readonly bool Partial;
    private Stage _stage;
    private ulong[] _map;           // segments to copy, one bit each
    private readonly ulong[] _done; // segments copied (and verified), one bit each
    private readonly ulong[]? _preset; // a stopped rebuild's remainder, copied instead of a merge
    private bool _mapReady;
    private long _cursor;           // the next segment to look at
    private readonly Slot[] _slots = new Slot[InFlight];
    private byte* _buffers;
    private LightweightThread? _thread;
    private Poller? _poller;
    private NexusChild? _source;
    private IoChannel? _sourceIo, _targetIo;
    private readonly System.Collections.Generic.List<IoChannel> _formerSources = new();
    private bool _queryRunning;
    private int _queryBefore;
    private volatile bool _cancelled;
    private volatile bool _stopped;
    private volatile bool _paused;
    private volatile int _result = -1; // a NexusRebuildState once ended
    private bool _failed;
    private long _total, _copied;
    private double _tokens = NexusBdev.SegmentBytes;
    private long _lastTick;

    public readonly bool Verify;
    private long _verifyFailures;

    public NexusRebuild(NexusBdev nexus, NexusChild target, bool partial, ulong[]? remainder = null)
    {
        _nexus = nexus;
        Target = target;
        Partial = partial || remainder != null;
        Verify = nexus.RebuildVerify;
        _map = new ulong[(nexus.Segments + 63) / 64];
        _done = new ulong[_map.Length];
        _preset = remainder;
        Created = DateTime.UtcNow;
    }

    public readonly DateTime Created;
    /// <summary>When the copy's thread took it up (<see cref="DateTime.MinValue"/>: queued).</summary>
    public DateTime Started { get; private set; }
    public DateTime Ended { get; private set; }
    public bool Cancelled => _cancelled;
    /// <summary>Segments whose read-back differed from the source (verify only).</summary>
    public long VerifyFailures => System.Threading.Interlocked.Read(ref _verifyFailures);
    /// <summary>The administrator stopped it: the child stays out of sync, not faulted.</summary>
    public bool StoppedByUser => _stopped;
    public bool Paused => _paused;
    /// <summary>The healthy child it copies from, once started.</summary>
    public NexusChild? Source => _source;
    public int TasksActive
    {
        get
        {
            int n = 0;
            foreach (Slot? s in _slots)
            {
                if (s is { Step: >= 2 })
                {
                    n++;
                }
            }
            return n;
        }
    }

    /// <summary>Mayastor's RebuildState: init (queued, or before its copy starts), running,
    /// paused, then stopped, failed or completed.</summary>
    public NexusRebuildState State
    {
        get
        {
            int r = _result;
            if (r >= 0)
            {
                return (NexusRebuildState)r;
            }
            if (_paused)
            {
                return NexusRebuildState.Paused;
            }
            return Started == DateTime.MinValue ? NexusRebuildState.Init : NexusRebuildState.Running;
        }
    }

    /// <summary>Percent of the blocks to copy that are copied (0 until the total is known).</summary>
    public int Progress
    {
        get
        {
            long total = SegmentsTotal;
            if (State == NexusRebuildState.Completed)
            {
                return 100;
            }
            return total == 0 ? 0 : (int)(SegmentsCopied * 100 / total);
        }
    }

    /// <summary>Starts no new segment until <see cref="Resume"/>; those in flight finish.</summary>
    public void Pause() => _paused = true;

    public void Resume() => _paused = false;

    /// <summary>Ends the job at the next step, the child left out of sync (Mayastor's stop).</summary>
    public void Stop()
    {
        _stopped = true;
        _cancelled = true;
    }
    public long SegmentsTotal => System.Threading.Volatile.Read(ref _total);
    public long SegmentsCopied => System.Threading.Volatile.Read(ref _copied);
    /// <summary>Blocks in whole segments, at most the nexus's (its last segment may be short).</summary>
    public ulong BlocksTotal => Math.Min((ulong)SegmentsTotal * _nexus.SegmentBlocks, _nexus.BlockCount);
    public ulong BlocksCopied => Math.Min((ulong)SegmentsCopied * _nexus.SegmentBlocks, _nexus.BlockCount);
    public ulong SegmentBlocks => _nexus.SegmentBlocks;
    public uint BlockSize => _nexus.BlockSize;

    /// <summary>Stops at the next step; segments in flight finish first.</summary>
    public void Cancel() => _cancelled = true;

    /// <summary>A queued job stopped or cancelled before its turn: it ends without running.</summary>
    internal void EndUnstarted()
    {
        _cancelled = true;
        Ended = DateTime.UtcNow;
        _result = (int)NexusRebuildState.Stopped;
    }

    /// <summary>On the thread that runs it: buffers, channels, the poller; then the drain.</summary>
    public void Start()
    {
        Started = DateTime.UtcNow;
        _thread = LightweightThread.Current;
        if (_cancelled)
        {
            End(); // stopped (or its child left) before its turn came: stopped, not failed
            return;
        }
        long bytes = (long)InFlight * NexusBdev.SegmentBytes * (Verify ? 2 : 1);
        _buffers = (byte*)NbEnvironment.Dma!.Alloc(bytes, 4096, zero: false);
        _source = PickSource();
        if (_thread == null || _buffers == null || _source == null ||
            IoChannel.Get(_source.Bdev.IoDevice, out _sourceIo) != 0 ||
            IoChannel.Get(Target.Bdev.IoDevice, out _targetIo) != 0)
        {
            Log.Error($"nexus '{_nexus.Name}': rebuild of '{Target.Name}' cannot start: " +
                      (_source == null ? "no healthy child to copy from" : LastError.Message));
            _failed = true;
            End();
            return;
        }
        for (int i = 0; i < InFlight; i++)
        {
            var s = new Slot { Job = this, Index = i, Buffer = _buffers + (long)i * NexusBdev.SegmentBytes };
            if (Verify)
            {
                s.Check = _buffers + (long)(InFlight + i) * NexusBdev.SegmentBytes;
            }
            s.Self = GCHandle.Alloc(s);
            _slots[i] = s;
        }
        System.Threading.Interlocked.Increment(ref _nexus.RebuildActive);
        // Writes from here on count per segment; the next refresh marks those started before.
        _nexus.Reconfigure(_ => _stage = Stage.Draining);
        _stage = Stage.Idle;
        if (_thread.RegisterPoller("nexus-rebuild:" + _nexus.Name, 0, (nint)(delegate*<object?, int>)&PollThunk, 0,
                this, managed: true, out _poller) != 0)
        {
            _failed = true;
            End();
        }
    }

    private NexusChild? PickSource()
    {
        foreach (NexusChild c in _nexus.Children())
        {
            if (c != Target && c.Healthy)
            {
                return c;
            }
        }
        return null;
    }

    private static int PollThunk(object? o) => ((NexusRebuild)o!).Poll();

    private int Poll()
    {
        if (_cancelled && _stage is Stage.Idle or Stage.Draining or Stage.Merging or Stage.Copying)
        {
            _stage = Stage.Ending;
        }
        switch (_stage)
        {
            case Stage.Draining:
                if (!_queryRunning)
                {
                    _queryRunning = true;
                    _queryBefore = 0;
                    _nexus.ForEachNexusChannel(n => _queryBefore += n.WritesBeforeRefresh, () =>
                    {
                        _queryRunning = false;
                        if (_queryBefore == 0 && _stage == Stage.Draining)
                        {
                            BeginCopy();
                        }
                    });
                }
                return 0;
            case Stage.Copying:
                return Copy();
            case Stage.Ending:
                foreach (Slot s in _slots)
                {
                    if (s is { Step: 1 })
                    {
                        Free(s);
                    }
                }
                if (Busy())
                {
                    return 0;
                }
                End();
                return 1;
            default:
                return 0;
        }
    }

    /// <summary>What a stopped rebuild left to copy (its segments not copied yet), once it knew
    /// what to copy; null before that. The child took every write since the rebuild began, so a
    /// rebuild started again needs only these.</summary>
    internal ulong[]? Remainder()
    {
        if (!_mapReady)
        {
            return null;
        }
        var left = new ulong[_map.Length];
        for (int i = 0; i < left.Length; i++)
        {
            left[i] = _map[i] & ~_done[i];
        }
        return left;
    }

    private void BeginCopy()
    {
        if (_preset != null)
        {
            long n = 0;
            for (int i = 0; i < _map.Length; i++)
            {
                _map[i] = _preset[i];
                n += System.Numerics.BitOperations.PopCount(_preset[i]);
            }
            _total = n;
            _mapReady = true;
            _stage = Stage.Copying;
            return;
        }
        if (!Partial)
        {
            for (int s = 0; s < _nexus.Segments; s++)
            {
                _map[s >> 6] |= 1UL << (s & 63);
            }
            _total = _nexus.Segments;
            _mapReady = true;
            _stage = Stage.Copying;
            return;
        }
        _stage = Stage.Merging;
        int epoch = Target.LogEpoch;
        _nexus.ForEachNexusChannel(n => n.MergeLog(_map, epoch), () =>
        {
            long n = 0;
            foreach (ulong w in _map)
            {
                n += System.Numerics.BitOperations.PopCount(w);
            }
            _total = n;
            _mapReady = true;
            if (_stage == Stage.Merging)
            {
                _stage = Stage.Copying;
            }
        });
    }

    /// <summary>The rate limit's bucket, filled for the time since the last look and capped at
    /// one segment: true when a segment may start now (its bytes are taken).</summary>
    private bool Earned(long rate)
    {
        if (rate <= 0)
        {
            return true;
        }
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_lastTick != 0)
        {
            double seconds = (now - _lastTick) / (double)System.Diagnostics.Stopwatch.Frequency;
            _tokens = Math.Min(NexusBdev.SegmentBytes, _tokens + rate * seconds);
        }
        _lastTick = now;
        if (_tokens < NexusBdev.SegmentBytes)
        {
            return false;
        }
        _tokens -= NexusBdev.SegmentBytes;
        return true;
    }

    private int Copy()
    {
        int work = 0;
        long rate = _nexus.RebuildRate;
        foreach (Slot s in _slots)
        {
            if (s.Step == 1 && _failed)
            {
                Free(s); // locked, not started: nothing to wait for
            }
            if (s.Step == 0 && !_failed && !_paused && _cursor < _nexus.Segments && Earned(rate) &&
                NextSegment(out long seg))
            {
                s.Segment = seg;
                s.Step = 1;
                _nexus.Locks.Lock(s.Index, seg);
                work++;
            }
            if (s.Step == 1 && _nexus.Locks.Drained(s.Segment))
            {
                if (!SourceStillHealthy())
                {
                    Free(s);
                    continue;
                }
                s.Step = 2;
                s.From = _source;
                Submit(s, _source!, _sourceIo!, BdevIoType.Read);
                work++;
            }
        }
        if (_failed ? !Busy() : _cursor >= _nexus.Segments && !AnyTaken())
        {
            _stage = Stage.Ending;
        }
        return work;
    }

    /// <summary>Checked after a segment's writes have drained and before it is read: a source
    /// faulted meanwhile (a host write failed on it, so it lacks that write, which the target
    /// has) must not be copied from any more; the copy goes on from another healthy child, or
    /// fails when none is left. Reads submitted earlier stand: the range lock kept every write
    /// off their segments, and a write that fails on the source faults it before it leaves its
    /// segment.</summary>
    private bool SourceStillHealthy()
    {
        if (_source!.Healthy)
        {
            return true;
        }
        NexusChild? next = PickSource();
        IoChannel? io = null;
        if (next == null || IoChannel.Get(next.Bdev.IoDevice, out io) != 0)
        {
            Log.Error($"nexus '{_nexus.Name}': rebuild of '{Target.Name}': source '{_source.Name}' is " +
                      $"{NexusChild.StateName(_source.State)} and " +
                      (next == null ? "no other healthy child is left" : LastError.Message));
            _failed = true;
            return false;
        }
        Log.Notice($"nexus '{_nexus.Name}': rebuild of '{Target.Name}' goes on from '{next.Name}' " +
                   $"('{_source.Name}' is {NexusChild.StateName(_source.State)})");
        _formerSources.Add(_sourceIo!);
        _source = next;
        _sourceIo = io;
        return true;
    }

    private bool AnyTaken()
    {
        foreach (Slot s in _slots)
        {
            if (s.Step != 0)
            {
                return true;
            }
        }
        return false;
    }

    private bool NextSegment(out long seg)
    {
        while (_cursor < _nexus.Segments)
        {
            long s = _cursor++;
            if ((_map[s >> 6] & (1UL << (int)(s & 63))) != 0)
            {
                seg = s;
                return true;
            }
        }
        seg = -1;
        return false;
    }

    private bool Busy()
    {
        foreach (Slot s in _slots)
        {
            if (s != null && s.Step >= 2)
            {
                return true;
            }
        }
        return false;
    }

    private void Submit(Slot s, NexusChild child, IoChannel io, BdevIoType type, byte* buffer = null)
    {
        ulong first = (ulong)s.Segment * _nexus.SegmentBlocks;
        ulong blocks = Math.Min(_nexus.SegmentBlocks, _nexus.BlockCount - first);
        var ch = (BdevChannel)io.State!;
        int rc = child.Desc is { Closed: false } d
            ? ch.Submit(d, type, null, 0, buffer != null ? buffer : s.Buffer, first, blocks,
                (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnDone, GCHandle.ToIntPtr(s.Self))
            : -Errno.ENODEV;
        if (rc != 0)
        {
            Done(s, rc);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnDone(BdevIo* io, int status, void* arg) => DoneGuarded(io, status, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DoneGuarded(BdevIo* io, int status, void* arg)
    {
        try
        {
            var s = (Slot)GCHandle.FromIntPtr((nint)arg).Target!;
            s.Job.Done(s, status);
        }
        catch (Exception e)
        {
            Log.Error($"nexus rebuild completion failed: {e}");
        }
    }

    private void Done(Slot s, int status)
    {
        if (status != 0)
        {
            Log.Error($"nexus '{_nexus.Name}': rebuild of '{Target.Name}': " +
                      $"{(s.Step == 2 ? "read of '" + s.From?.Name : s.Step == 3 ? "write of '" + Target.Name
                          : "read-back of '" + Target.Name)}' " +
                      $"segment {s.Segment} failed ({status})");
            _failed = true;
            Free(s);
            return;
        }
        if (s.Step == 2 && !_cancelled)
        {
            s.Step = 3;
            Submit(s, Target, _targetIo!, BdevIoType.Write);
            return;
        }
        if (s.Step == 3 && Verify && !_cancelled)
        {
            s.Step = 4;
            Submit(s, Target, _targetIo!, BdevIoType.Read, s.Check);
            return;
        }
        if (s.Step == 4 && !Same(s))
        {
            Log.Error($"nexus '{_nexus.Name}': rebuild of '{Target.Name}': segment {s.Segment} reads back " +
                      "other than it was copied (verify)");
            System.Threading.Interlocked.Increment(ref _verifyFailures);
            _failed = true;
            Free(s);
            return;
        }
        if (s.Step >= 3 && !(s.Step == 3 && Verify))
        {
            _done[s.Segment >> 6] |= 1UL << (int)(s.Segment & 63);
            System.Threading.Interlocked.Increment(ref _copied);
        }
        Free(s);
    }

    private bool Same(Slot s)
    {
        ulong first = (ulong)s.Segment * _nexus.SegmentBlocks;
        int bytes = (int)(Math.Min(_nexus.SegmentBlocks, _nexus.BlockCount - first) * _nexus.BlockSize);
        return new ReadOnlySpan<byte>(s.Buffer, bytes).SequenceEqual(new ReadOnlySpan<byte>(s.Check, bytes));
    }

    private void Free(Slot s)
    {
        _nexus.Locks.Unlock(s.Index);
        s.Segment = -1;
        s.Step = 0;
    }

    private void End()
    {
        if (_stage == Stage.Ended)
        {
            return;
        }
        _stage = Stage.Ended;
        if (_poller != null)
        {
            _thread!.UnregisterPoller(_poller);
            _poller = null;
        }
        foreach (Slot s in _slots)
        {
            if (s != null)
            {
                _nexus.Locks.Unlock(s.Index);
                if (s.Self.IsAllocated)
                {
                    s.Self.Free();
                }
            }
        }
        if (_slots[0] != null)
        {
            System.Threading.Interlocked.Decrement(ref _nexus.RebuildActive);
        }
        _sourceIo?.Put();
        foreach (IoChannel former in _formerSources)
        {
            former.Put();
        }
        _formerSources.Clear();
        _targetIo?.Put();
        if (_buffers != null)
        {
            NbEnvironment.Dma!.Free(_buffers);
            _buffers = null;
        }
        bool synced = !_failed && !_cancelled && _copied == _total;
        Ended = DateTime.UtcNow;
        _result = (int)(synced ? NexusRebuildState.Completed
            : _failed ? NexusRebuildState.Failed : NexusRebuildState.Stopped);
        _nexus.RebuildEnded(this, synced);
    }
}
