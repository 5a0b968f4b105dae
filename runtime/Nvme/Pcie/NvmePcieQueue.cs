using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Pcie;

/// <summary>The PCIe transport's queue pair: rings in DMA memory, the phase tag, the
/// doorbells (stride from CAP.DSTRD) and a tracker per command id with a PRP list page.
/// Single-threaded: an I/O queue belongs to one thread; the admin queue to the admin poll.
/// Submissions only fill entries; <see cref="RingSubmissions"/> writes the tail doorbell
/// once for a batch (SPDK's delay_cmd_submit), and a reap writes the head doorbell once for
/// all it consumed.</summary>
internal sealed unsafe class NvmePcieQueue : NvmeTransportQueue
{
    private NvmeCommand* _sq;
    private NvmeCompletion* _cq;
    public ulong SqIova { get; private set; }
    public ulong CqIova { get; private set; }
    private uint* _sqDoorbell;
    private uint* _cqDoorbell;
    private NvmeTracker* _trackers;
    private int _freeHead;
    private int _sqTail;
    private int _sqTailRung;
    private int _cqHead;
    private int _phase;
    private int _outstanding;
    private DmaPool? _pool;

    private NvmePcieQueue(ushort id, int entries)
        : base(id, entries)
    {
    }

    public override int Outstanding => _outstanding;
    public override int Slots => Entries - 1;

    /// <summary>Allocates the rings and trackers (Entries - 1 commands can be in flight:
    /// a full ring has one slot empty).</summary>
    public static int Create(ushort id, int entries, byte* bar0, int doorbellStride, out NvmePcieQueue? qp)
    {
        qp = null;
        DmaPool? pool = NbEnvironment.Dma;
        if (pool == null)
        {
            return NbEnvironment.NotInitialized();
        }
        var q = new NvmePcieQueue(id, entries);
        q._sq = (NvmeCommand*)pool.Alloc((long)entries * NvmeSpec.SqEntrySize, NvmeSpec.PageSize, zero: true);
        q._cq = (NvmeCompletion*)pool.Alloc((long)entries * NvmeSpec.CqEntrySize, NvmeSpec.PageSize, zero: true);
        q._trackers = (NvmeTracker*)NativeMemory.AllocZeroed((nuint)(entries * sizeof(NvmeTracker)));
        if (q._sq == null || q._cq == null)
        {
            q.Dispose();
            return LastError.Set(Errno.ENOMEM, $"NVMe queue {id}: no DMA memory for {entries}-entry rings");
        }
        q.SqIova = (ulong)pool.TranslatePage(q._sq);
        q.CqIova = (ulong)pool.TranslatePage(q._cq);
        // Rings larger than a page must be physically contiguous: a hugepage, or IOVA = VA.
        if (!Contiguous(pool, q._sq, entries * NvmeSpec.SqEntrySize) ||
            !Contiguous(pool, q._cq, entries * NvmeSpec.CqEntrySize))
        {
            q.Dispose();
            return LastError.Set(Errno.ENOMEM,
                $"NVMe queue {id}: rings are not contiguous in device address space (use hugepages with UIO)");
        }
        for (int i = 0; i < entries; i++)
        {
            NvmeTracker* t = &q._trackers[i];
            t->Cid = (ushort)i;
            t->PrpList = (ulong*)pool.Alloc(NvmeSpec.PageSize, NvmeSpec.PageSize, zero: true);
            if (t->PrpList == null)
            {
                q.Dispose();
                return LastError.Set(Errno.ENOMEM, $"NVMe queue {id}: no DMA memory for PRP lists");
            }
            t->PrpListIova = (ulong)pool.TranslatePage(t->PrpList);
        }
        q._pool = pool;
        q._sqDoorbell = (uint*)(bar0 + NvmeSpec.DoorbellBase + (2 * id) * (4 << doorbellStride));
        q._cqDoorbell = (uint*)(bar0 + NvmeSpec.DoorbellBase + (2 * id + 1) * (4 << doorbellStride));
        q.Reset();
        qp = q;
        return 0;
    }

    private static bool Contiguous(DmaPool pool, void* p, int bytes)
    {
        long first = pool.TranslatePage(p);
        for (int off = NvmeSpec.PageSize; off < bytes; off += NvmeSpec.PageSize)
        {
            if (pool.TranslatePage((byte*)p + off) != first + off)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Back to the state of a newly created queue: empty rings, phase 1, every
    /// tracker free. Only while the controller does not own the queue (before creation,
    /// or after the controller was disabled).</summary>
    public override void Reset()
    {
        new Span<byte>(_cq, Entries * NvmeSpec.CqEntrySize).Clear();
        _sqTail = _sqTailRung = _cqHead = 0;
        _phase = 1;
        _freeHead = -1;
        for (int i = Entries - 2; i >= 0; i--) // Entries - 1 trackers: a full ring keeps one slot empty
        {
            _trackers[i].Active = 0;
            _trackers[i].Request = null;
            _trackers[i].NextFree = _freeHead;
            _freeHead = i;
        }
        _outstanding = 0;
    }

    public override bool HasFreeSlot => _freeHead >= 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private NvmeTracker* TryAllocate()
    {
        int i = _freeHead;
        if (i < 0)
        {
            return null;
        }
        NvmeTracker* t = &_trackers[i];
        _freeHead = t->NextFree;
        Invariant.Assert(t->Active == 0, "tracker on the free list is active");
        t->Active = 1;
        t->AbortTicks = 0;
        _outstanding++;
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Free(NvmeTracker* t)
    {
        Invariant.Assert(t->Active == 1, "tracker freed twice");
        t->Active = 0;
        t->Request = null;
        t->NextFree = _freeHead;
        _freeHead = t->Cid;
        _outstanding--;
        Invariant.Assert(_outstanding >= 0, "a queue's outstanding count went negative");
    }

    /// <summary>Takes a slot, describes the data with PRPs (an inline payload goes in the
    /// slot's PRP page) and places the command in the next submission entry.</summary>
    public override int Submit(ref NvmeCommand cmd, void* request, in NvmeData data, long now)
    {
        NvmeTracker* t = TryAllocate();
        if (t == null)
        {
            return -Errno.EAGAIN;
        }
        int rc = 0;
        if (data.Iovs != null)
        {
            rc = NvmePrp.Build(t, _pool!, data.Iovs, data.IovCount, data.Start, data.Length, ref cmd);
        }
        else if (data.Buffer != null)
        {
            rc = NvmePrp.Build(t, data.Buffer, (int)data.Length, ref cmd);
        }
        else if (data.InlineLength > 0)
        {
            Invariant.Assert(data.InlineLength == 16, "an inline payload is one 16-byte range");
            t->PrpList[0] = data.Inline0;
            t->PrpList[1] = data.Inline1;
            cmd.Prp1 = t->PrpListIova;
            cmd.Prp2 = 0;
        }
        if (rc != 0)
        {
            Free(t);
            return rc;
        }
        t->Request = request;
        cmd.Cid = t->Cid;
        t->SubmitTicks = now;
        _sq[_sqTail] = cmd;
        int tail = _sqTail + 1;
        _sqTail = tail == Entries ? 0 : tail;
        return 0;
    }

    public override bool InFlight(int cid, out void* request, out long submitTicks, out long abortTicks)
    {
        NvmeTracker* t = &_trackers[cid];
        request = t->Request;
        submitTicks = t->SubmitTicks;
        abortTicks = t->AbortTicks;
        return cid < Entries - 1 && t->Active != 0;
    }

    public override void MarkAborting(int cid, long now) => _trackers[cid].AbortTicks = now;

    public override void Release(int cid)
    {
        if (_trackers[cid].Active != 0)
        {
            Free(&_trackers[cid]);
        }
    }

    /// <summary>Writes the SQ tail doorbell if entries were added since the last write.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override void RingSubmissions()
    {
        if (_sqTail != _sqTailRung)
        {
            _sqTailRung = _sqTail;
            if (Sse.IsSupported)
            {
                Sse.StoreFence(); // entries reach memory before the device is told
            }
            Volatile.Write(ref *_sqDoorbell, (uint)_sqTail);
        }
    }

    /// <summary>Reaps up to <paramref name="max"/> completions, frees each slot and hands
    /// the completion to the sink, then writes the CQ head doorbell once (not for a disabled
    /// controller, whose queues are gone). Returns how many it reaped.</summary>
    public override int Process(NvmeCompletionSink sink, int max, bool ack = true)
    {
        int n = 0;
        while (n < max)
        {
            NvmeCompletion* entry = &_cq[_cqHead];
            if ((Volatile.Read(ref entry->Status) & 1) != _phase)
            {
                break;
            }
            NvmeCompletion cpl = *entry;
            if (++_cqHead == Entries)
            {
                _cqHead = 0;
                _phase ^= 1;
            }
            n++;
            if (cpl.Cid >= Entries - 1 || _trackers[cpl.Cid].Active == 0)
            {
                SpuriousCompletions++;
                continue;
            }
            NvmeTracker* t = &_trackers[cpl.Cid];
            void* request = t->Request;
            Free(t);
            sink.Completed(cpl.Cid, request, cpl);
        }
        if (n > 0 && ack)
        {
            Volatile.Write(ref *_cqDoorbell, (uint)_cqHead);
        }
        return n;
    }

    public override void Dispose()
    {
        DmaPool? pool = NbEnvironment.Dma;
        if (_trackers != null)
        {
            for (int i = 0; i < Entries; i++)
            {
                if (_trackers[i].PrpList != null)
                {
                    pool?.Free(_trackers[i].PrpList);
                }
            }
            NativeMemory.Free(_trackers);
            _trackers = null;
        }
        if (_sq != null)
        {
            pool?.Free(_sq);
            _sq = null;
        }
        if (_cq != null)
        {
            pool?.Free(_cq);
            _cq = null;
        }
    }
}
