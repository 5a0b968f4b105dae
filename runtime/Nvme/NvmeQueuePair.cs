using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>Per-command state: which request a command id belongs to, its PRP list page
/// and when it was submitted (for the timeout scan). One per slot of the queue.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmeTracker
{
    public void* Request;        // the BdevIo (I/O queues) or null (admin: see the callback table)
    public ulong* PrpList;       // one page of PRP entries (or DSM ranges), DMA memory
    public ulong PrpListIova;
    public long SubmitTicks;
    public long AbortTicks;      // when an Abort was sent for it (0 = none)
    public int NextFree;
    public ushort Cid;
    public byte Active;
    public byte Reserved;
}

/// <summary>What a queue does with each completion it reaps.</summary>
internal unsafe interface INvmeCompletionHandler
{
    void Complete(NvmeTracker* tracker, in NvmeCompletion cpl);
}

/// <summary>One submission/completion queue pair: rings in DMA memory, the phase tag, the
/// doorbells (stride from CAP.DSTRD) and a tracker per command id. Single-threaded: an I/O
/// queue belongs to one channel's thread; the admin queue is used under its controller's
/// lock. Submissions only fill entries; <see cref="RingSubmissions"/> writes the tail
/// doorbell once for a batch (SPDK's delay_cmd_submit), and a reap writes the head doorbell
/// once for all it consumed.</summary>
internal sealed unsafe class NvmeQueuePair : IDisposable
{
    public readonly ushort Id;
    public readonly int Entries;
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
    public int Outstanding { get; private set; }
    /// <summary>Completions whose command id named no command in flight (a device bug).</summary>
    public long SpuriousCompletions;

    private NvmeQueuePair(ushort id, int entries)
    {
        Id = id;
        Entries = entries;
    }

    /// <summary>Allocates the rings and trackers (Entries - 1 commands can be in flight:
    /// a full ring has one slot empty).</summary>
    public static int Create(ushort id, int entries, byte* bar0, int doorbellStride, out NvmeQueuePair? qp)
    {
        qp = null;
        DmaPool? pool = NbEnvironment.Dma;
        if (pool == null)
        {
            return NbEnvironment.NotInitialized();
        }
        var q = new NvmeQueuePair(id, entries);
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
        if (!Contiguous(pool, q._sq, entries * NvmeSpec.SqEntrySize) || !Contiguous(pool, q._cq, entries * NvmeSpec.CqEntrySize))
        {
            q.Dispose();
            return LastError.Set(Errno.ENOMEM, $"NVMe queue {id}: rings are not contiguous in device address space (use hugepages with UIO)");
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
    public void Reset()
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
        Outstanding = 0;
    }

    public bool HasFreeTracker => _freeHead >= 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NvmeTracker* TryAllocate()
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
        Outstanding++;
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Free(NvmeTracker* t)
    {
        Invariant.Assert(t->Active == 1, "tracker freed twice");
        t->Active = 0;
        t->Request = null;
        t->NextFree = _freeHead;
        _freeHead = t->Cid;
        Outstanding--;
    }

    public NvmeTracker* Tracker(int cid) => &_trackers[cid];

    /// <summary>Places the command in the next submission slot (cid = the tracker's).
    /// The device sees it at the next <see cref="RingSubmissions"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Submit(NvmeTracker* t, NvmeCommand* cmd, long now)
    {
        cmd->Cid = t->Cid;
        t->SubmitTicks = now;
        NvmeCommand* slot = &_sq[_sqTail];
        *slot = *cmd;
        int tail = _sqTail + 1;
        _sqTail = tail == Entries ? 0 : tail;
    }

    /// <summary>Writes the SQ tail doorbell if entries were added since the last write.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void RingSubmissions()
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

    /// <summary>Reaps up to <paramref name="max"/> completions, hands each to the handler,
    /// then writes the CQ head doorbell once (not for a disabled controller, whose queues are
    /// gone). Returns how many it reaped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Reap<T>(ref T handler, int max, bool ringDoorbell = true) where T : struct, INvmeCompletionHandler
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
            handler.Complete(&_trackers[cpl.Cid], cpl);
        }
        if (n > 0 && ringDoorbell)
        {
            Volatile.Write(ref *_cqDoorbell, (uint)_cqHead);
        }
        return n;
    }

    public void Dispose()
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
