using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Nexus;

/// <summary>A nexus's per-thread state: a port (this thread's channel) per open child, the
/// readers (open and synced) and the writers (open), I/O held while the nexus reconfigures or a
/// rebuild holds the range, the write log (one bit per segment, while a child is faulted) and
/// the write counts a rebuild waits on.
///
/// Reads go to one reader, round-robin; a failure retires that child and the read goes to the
/// next reader, so the host sees an error only when no reader has the data. Writes, write
/// zeroes, unmap, flush and reset go to every writer; a child that fails one is retired
/// (faulted, its event delivered, then detached from every channel) and the I/O succeeds when
/// a healthy child has it. The last healthy child is never retired: its failure is the host's.
/// Child states are re-read at every decision, so a child faulted on one thread gets no more
/// reads from any thread before its channels have detached it.</summary>
internal sealed unsafe class NexusChannel : BdevModuleChannel
{
    private sealed class Port
    {
        public NexusChild Child = null!;
        public BdevDesc Desc = null!;
        public long DescId;
        public IoChannel Io = null!;
        public BdevChannel Channel = null!;
        public int InFlight;
        public bool Detached;
    }

    private readonly NexusBdev _nexus;
    private readonly BdevChannel _channel;
    private readonly Port?[] _ports = new Port?[NexusBdev.MaxChildren];
    private Port[] _all = new Port[4]; // attached and detached-but-busy ports, for ChildDone
    private int _allCount;
    private readonly int[] _readers = new int[NexusBdev.MaxChildren];
    private readonly int[] _writers = new int[NexusBdev.MaxChildren];
    private int _readerCount, _writerCount;
    private uint _next;
    private int _generation = -1;
    private BdevIo* _heldHead, _heldTail;
    private BdevIo* _awaitHead, _awaitTail; // successful completions waiting for the state file
    private Poller? _poller;
    private readonly ulong[] _log;
    private int _logEpoch;
    private int _epoch, _writesNow, _writesBefore;

    public NexusChannel(NexusBdev nexus, BdevChannel channel)
    {
        _nexus = nexus;
        _channel = channel;
        _log = new ulong[(nexus.Segments + 63) / 64];
        Refresh();
    }

    private static NexusIoContext* Context(BdevIo* io) => (NexusIoContext*)BdevIo.DriverContext(io);

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        NexusIoContext* ctx = Context(io);
        ctx->NextHeld = null;
        ctx->Tried = 0;
        ctx->InFlight = 0;
        ctx->Status = 0;
        ctx->Successes = 0;
        ctx->Counted = 0;
        ctx->Started = 0;
        if (_nexus.Reconfiguring != 0)
        {
            Hold(io);
            return;
        }
        Start(io);
    }

    private void Start(BdevIo* io)
    {
        if (_generation != _nexus.Generation)
        {
            Refresh(); // a change this channel's iteration has not reached yet
        }
        if (io->Type == BdevIoType.Read)
        {
            ReadNext(io);
            return;
        }
        NexusIoContext* ctx = Context(io);
        if (ModifiesData(io->Type))
        {
            if (_nexus.RebuildActive != 0)
            {
                long first = (long)(io->OffsetBlocks / _nexus.SegmentBlocks);
                long last = (long)((io->OffsetBlocks + io->NumBlocks - 1) / _nexus.SegmentBlocks);
                if (!_nexus.Locks.TryEnter(first, last))
                {
                    Hold(io); // a rebuild copies this range now
                    return;
                }
                ctx->Counted = 1;
            }
            ctx->Started = 1;
            ctx->Epoch = _epoch;
            _writesNow++;
        }
        FanOut(io, ctx);
    }

    private static bool ModifiesData(BdevIoType t) =>
        t is BdevIoType.Write or BdevIoType.WriteZeroes or BdevIoType.Unmap;

    // ---------------------------------------------------------------- reads

    private void ReadNext(BdevIo* io)
    {
        NexusIoContext* ctx = Context(io);
        int n = _readerCount;
        for (int k = 0; k < n; k++)
        {
            int slot = _readers[(int)((_next + (uint)k) % (uint)n)];
            Port p = _ports[slot]!;
            ulong bit = 1UL << slot;
            if ((ctx->Tried & bit) != 0 || !p.Child.Healthy)
            {
                continue;
            }
            ctx->Tried |= bit;
            int rc = p.Channel.SubmitChild(p.Desc, io, BdevIoType.Read, io->IovCount > 1 ? io->Iovs : null,
                io->IovCount > 1 ? io->IovCount : 0, io->IovCount == 1 ? io->Iovs[0].Base : null, io->OffsetBlocks,
                io->NumBlocks);
            if (rc == 0)
            {
                p.InFlight++;
                ctx->InFlight = 1;
                _next++;
                return;
            }
            if (rc == -Errno.ENOMEM)
            {
                _channel.Complete(io, rc);
                return;
            }
            ctx->Status = rc;
        }
        _channel.Complete(io, ctx->Status != 0 ? ctx->Status : -Errno.EIO);
    }

    // ---------------------------------------------------------------- writes and the rest

    private void FanOut(BdevIo* io, NexusIoContext* ctx)
    {
        Iovec* iovs = io->IovCount > 1 ? io->Iovs : null;
        int count = io->IovCount > 1 ? io->IovCount : 0;
        byte* buf = io->IovCount == 1 ? io->Iovs[0].Base : null;
        ulong offset = io->Type == BdevIoType.Reset ? 0 : io->OffsetBlocks;
        ulong blocks = io->Type == BdevIoType.Reset ? 0 : io->NumBlocks;
        for (int k = 0; k < _writerCount; k++)
        {
            Port p = _ports[_writers[k]]!;
            if (p.Child.State != NexusChildState.Open)
            {
                continue;
            }
            int rc = p.Channel.SubmitChild(p.Desc, io, io->Type, iovs, count, buf, offset, blocks);
            if (rc == 0)
            {
                p.InFlight++;
                ctx->InFlight++;
            }
            else if (rc == -Errno.ENOMEM)
            {
                ctx->Status = rc; // the host retries the whole I/O: writes are idempotent
            }
            else
            {
                ChildFailed(ctx, p.Child, rc);
            }
        }
        if (ctx->InFlight == 0)
        {
            FinishFanOut(io, ctx);
        }
    }

    /// <summary>Retires the child; a child that may not be retired (the last healthy one) makes
    /// the I/O fail with its error.</summary>
    private void ChildFailed(NexusIoContext* ctx, NexusChild child, int rc)
    {
        if (!_nexus.Retire(child, NexusFaultReason.IoError) && ctx->Status == 0)
        {
            ctx->Status = rc;
        }
    }

    private void FinishFanOut(BdevIo* io, NexusIoContext* ctx)
    {
        if (ctx->Started != 0)
        {
            if (ctx->Counted != 0)
            {
                _nexus.Locks.Leave((long)(io->OffsetBlocks / _nexus.SegmentBlocks),
                    (long)((io->OffsetBlocks + io->NumBlocks - 1) / _nexus.SegmentBlocks));
            }
            if (ctx->Epoch == _epoch)
            {
                _writesNow--;
            }
            else
            {
                _writesBefore--;
            }
            if (_nexus.LoggingActive != 0)
            {
                MarkLog(io->OffsetBlocks, io->NumBlocks);
            }
        }
        int status = ctx->Status != 0 ? ctx->Status : ctx->Successes > 0 ? 0 : -Errno.EIO;
        if (_nexus.StateFile is { } file && status == 0 && (ctx->AwaitState = file.WritesMustWaitFor()) != 0)
        {
            AwaitStateFile(io);
            return;
        }
        _channel.Complete(io, status);
    }

    public override void ChildDone(BdevChannel channel, BdevIo* parent, BdevIo* child)
    {
        Port p = FindPort(child->DescId);
        p.InFlight--;
        if (p.Detached && p.InFlight == 0)
        {
            Release(p);
        }
        NexusIoContext* ctx = Context(parent);
        int status = child->Status;
        if (parent->Type == BdevIoType.Read)
        {
            ctx->InFlight = 0;
            if (status == 0)
            {
                _channel.Complete(parent, 0);
                return;
            }
            _nexus.Retire(p.Child, NexusFaultReason.IoError);
            ctx->Status = status;
            ReadNext(parent);
            return;
        }
        ctx->InFlight--;
        if (status == 0)
        {
            if (p.Child.Healthy)
            {
                ctx->Successes++;
            }
        }
        else if (p.Child.State == NexusChildState.Open)
        {
            parent->NvmeCdw0 = child->NvmeCdw0;
            parent->NvmeSct = child->NvmeSct;
            parent->NvmeSc = child->NvmeSc;
            ChildFailed(ctx, p.Child, status);
        }
        if (ctx->InFlight == 0)
        {
            FinishFanOut(parent, ctx);
        }
    }

    private Port FindPort(long descId)
    {
        for (int i = 0; i < _allCount; i++)
        {
            if (_all[i].DescId == descId)
            {
                return _all[i];
            }
        }
        Invariant.Assert(false, "a nexus child I/O came back from a child this channel never sent to");
        return null;
    }

    // ---------------------------------------------------------------- write log

    private void MarkLog(ulong offset, ulong blocks)
    {
        int epoch = _nexus.LogEpoch;
        if (_logEpoch != epoch)
        {
            Array.Clear(_log);
            _logEpoch = epoch;
        }
        ulong first = offset / _nexus.SegmentBlocks, last = (offset + blocks - 1) / _nexus.SegmentBlocks;
        for (ulong s = first; s <= last; s++)
        {
            _log[s >> 6] |= 1UL << (int)(s & 63);
        }
    }

    /// <summary>ORs this thread's log of <paramref name="epoch"/> into <paramref name="map"/>
    /// (a rebuild's; on this channel's thread, one channel at a time).</summary>
    public void MergeLog(ulong[] map, int epoch)
    {
        if (_logEpoch != epoch)
        {
            return;
        }
        for (int i = 0; i < map.Length; i++)
        {
            map[i] |= _log[i];
        }
    }

    /// <summary>Writes started before this channel's last refresh and still in flight.</summary>
    public int WritesBeforeRefresh => _writesBefore;

    // ---------------------------------------------------------------- held I/O

    private void Hold(BdevIo* io)
    {
        NexusIoContext* ctx = Context(io);
        ctx->NextHeld = null;
        if (_heldTail == null)
        {
            _heldHead = io;
        }
        else
        {
            Context(_heldTail)->NextHeld = io;
        }
        _heldTail = io;
        if (_poller == null)
        {
            StartPoller();
        }
    }

    /// <summary>A write that succeeded while the state file does not yet record a child that
    /// became unhealthy: acknowledged by the poller once it does.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void AwaitStateFile(BdevIo* io)
    {
        NexusIoContext* ctx = Context(io);
        ctx->NextHeld = null;
        if (_awaitTail == null)
        {
            _awaitHead = io;
        }
        else
        {
            Context(_awaitTail)->NextHeld = io;
        }
        _awaitTail = io;
        if (_poller == null)
        {
            StartPoller();
        }
    }

    private int CompleteCovered()
    {
        NexusStateFile file = _nexus.StateFile!;
        int n = 0;
        while (_awaitHead != null && file.Covers(Context(_awaitHead)->AwaitState))
        {
            BdevIo* io = _awaitHead;
            _awaitHead = Context(io)->NextHeld;
            if (_awaitHead == null)
            {
                _awaitTail = null;
            }
            Context(io)->NextHeld = null;
            _channel.Complete(io, 0);
            n++;
        }
        return n;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void StartPoller()
    {
        if (_channel.Thread.RegisterPoller("nexus-held:" + _nexus.Name, 0, (nint)(delegate*<object?, int>)&PollHeld,
                0, this, managed: true, out _poller) != 0)
        {
            Log.Error($"nexus '{_nexus.Name}': no poller for held I/O: {LastError.Message}");
        }
    }

    private static int PollHeld(object? o)
    {
        var c = (NexusChannel)o!;
        int n = c._awaitHead != null ? c.CompleteCovered() : 0;
        if (c._nexus.Reconfiguring != 0)
        {
            return n;
        }
        BdevIo* io = c._heldHead;
        c._heldHead = c._heldTail = null;
        while (io != null)
        {
            BdevIo* next = Context(io)->NextHeld;
            Context(io)->NextHeld = null;
            c.Start(io); // may be held again (a range still locked)
            io = next;
            n++;
        }
        if (c._heldHead == null && c._awaitHead == null && c._poller != null)
        {
            c._channel.Thread.UnregisterPoller(c._poller);
            c._poller = null;
        }
        return n;
    }

    // ---------------------------------------------------------------- reconfiguration

    /// <summary>Attaches every open child not attached yet, detaches every other, and rebuilds
    /// the reader and writer lists (on this channel's thread). Writes started before it count as
    /// "before" for a rebuild's drain.</summary>
    public void Refresh()
    {
        _generation = _nexus.Generation;
        NexusChild?[] children = _nexus.ChildrenSnapshot();
        _readerCount = _writerCount = 0;
        for (int i = 0; i < NexusBdev.MaxChildren; i++)
        {
            NexusChild? c = children[i];
            Port? p = _ports[i];
            bool wanted = c != null && c.State == NexusChildState.Open && c.Desc is { Closed: false };
            if (p != null && (!wanted || p.Child != c))
            {
                Detach(p);
                _ports[i] = p = null;
            }
            if (wanted && p == null)
            {
                _ports[i] = p = Attach(c!);
            }
            if (p != null)
            {
                _writers[_writerCount++] = i;
                if (c!.Synced)
                {
                    _readers[_readerCount++] = i;
                }
            }
        }
        _writesBefore += _writesNow;
        _writesNow = 0;
        _epoch++;
    }

    private Port? Attach(NexusChild c)
    {
        if (IoChannel.Get(c.Bdev.IoDevice, out IoChannel? io) != 0)
        {
            Log.Error($"nexus '{_nexus.Name}': child '{c.Name}' has no channel on thread '{_channel.Thread.Name}': " +
                      LastError.Message);
            return null;
        }
        var p = new Port
        {
            Child = c, Desc = c.Desc!, DescId = c.Desc!.Id, Io = io!, Channel = (BdevChannel)io!.State!,
        };
        if (_allCount == _all.Length)
        {
            Array.Resize(ref _all, _all.Length * 2);
        }
        _all[_allCount++] = p;
        return p;
    }

    private void Detach(Port p)
    {
        p.Detached = true;
        if (p.InFlight == 0)
        {
            Release(p);
        }
    }

    private void Release(Port p)
    {
        p.Io.Put();
        int i = Array.IndexOf(_all, p, 0, _allCount);
        _all[i] = _all[--_allCount];
        _all[_allCount] = null!;
    }

    public override void Destroy()
    {
        if (_poller != null)
        {
            _channel.Thread.UnregisterPoller(_poller);
            _poller = null;
        }
        while (_allCount > 0)
        {
            Release(_all[_allCount - 1]);
        }
        Array.Clear(_ports);
    }
}
