using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Tcp;

/// <summary>One NVMe/TCP queue: a TCP connection, a command slot per command id, and the
/// two halves of the stream. Submissions become send jobs (a command capsule, later the
/// H2CData PDUs an R2T asks for) turned into pieces of a gathered send; the receive side
/// (<see cref="NvmeTcpReceiver"/>) puts C2HData straight into the command's buffers and
/// turns responses into completions handed out by <see cref="Process"/>. One owner thread
/// (an I/O queue's, or the admin poll for the admin queue), no locks; the connection
/// handshake runs on the admin poll before the owner uses the queue.
/// The last slot (<see cref="SyncCid"/>) is the transport's own: Connect and Property
/// Get/Set, waited for on the admin poll.</summary>
[SkipLocalsInit]
internal sealed unsafe partial class NvmeTcpQueue : NvmeTransportQueue
{
    private const int RxBufferBytes = 64 * 1024;
    private const int RecvPerPoll = 4;
    // While C2HData PDUs are large, a receive into the staging buffer asks for this much only:
    // the next header and a little after it, so that the rest of a large PDU's data is received
    // straight into the command's buffer instead of staged and copied (a 64 KiB receive took a
    // whole 128 KiB read's header and first half, and the copy was 88% of the host's
    // user-space instructions at 128 KiB: bench/nvmf_callgrind.sh).
    private const int SmallStageBytes = 4096;
    private const uint LargeDataBytes = 16 * 1024;

    private readonly NvmeTcpTransport _transport;
    private readonly int _slotCount;     // Entries - 1 usable, like a ring with one slot empty
    private NvmeTcpSlot* _slots;         // _slotCount + 1: the last is SyncCid
    private int _freeHead;
    private int _outstanding;
    private int* _ready;                 // completed command ids waiting for Process
    private int _readyHead;
    private int _readyCount;
    private byte* _rx;
    private readonly NvmeTcpReceiver _receiver;
    private int _fd = -1;
    private bool _headerDigest;
    private bool _dataDigest;
    private uint _maxH2CData;
    private uint _inCapsuleMax;
    private int _c2hCid = -1;            // the command the C2HData being received is for
    private uint _c2hPos;
    private byte _c2hFlags;
    private int _stageBytes = RxBufferBytes; // what a staged receive asks for (SmallStageBytes after a large C2HData)
    private string _brokenReason = "";

    public NvmeTcpQueue(NvmeTcpTransport transport, ushort id, int entries)
        : base(id, entries)
    {
        _transport = transport;
        _slotCount = entries - 1;
        _receiver = new NvmeTcpReceiver(new Sink(this));
        _slots = (NvmeTcpSlot*)NativeMemory.AllocZeroed((nuint)((_slotCount + 1) * sizeof(NvmeTcpSlot)));
        _ready = (int*)NativeMemory.AllocZeroed((nuint)((_slotCount + 1) * sizeof(int)));
        _rx = (byte*)NativeMemory.Alloc(RxBufferBytes);
        AllocateSend();
        ClearState();
    }

    /// <summary>The command id of the transport's own commands.</summary>
    public int SyncCid => _slotCount;
    public override int Outstanding => _outstanding;
    public override int Slots => _slotCount;
    public override bool HasFreeSlot => _freeHead >= 0;
    public bool IsOpen => _fd >= 0;
    public bool Broken { get; private set; }
    public string BrokenReason => _brokenReason;
    public bool HeaderDigest => _headerDigest;
    public bool DataDigest => _dataDigest;
    public uint MaxH2CData => _maxH2CData;
    public long PdusReceived => _receiver.Pdus;

    private void ClearState()
    {
        _freeHead = -1;
        for (int i = _slotCount - 1; i >= 0; i--)
        {
            _slots[i] = default;
            _slots[i].NextFree = _freeHead;
            _freeHead = i;
        }
        _slots[_slotCount] = default;
        _outstanding = 0;
        _readyHead = _readyCount = 0;
        _c2hCid = -1;
        _stageBytes = RxBufferBytes;
        ClearSend();
    }

    // ------------------------------------------------------------------ submission

    public override int Submit(ref NvmeCommand cmd, void* request, in NvmeData data, long now)
    {
        int cid = _freeHead;
        if (cid < 0)
        {
            return -Errno.EAGAIN;
        }
        NvmeTcpSlot* s = &_slots[cid];
        int rc = Prepare(s, ref cmd, data, (ushort)cid);
        if (rc != 0)
        {
            return rc;
        }
        _freeHead = s->NextFree;
        s->Active = 1;
        s->Request = request;
        s->SubmitTicks = now;
        s->AbortTicks = 0;
        _outstanding++;
        PushJob(cid, JobCapsule);
        return 0;
    }

    /// <summary>Fills the slot from the command and its data: direction from the opcode
    /// (fabrics commands carry data to the controller), in-capsule when a write fits the
    /// controller's capsule, else a transport data block the controller fetches by R2T.</summary>
    private int Prepare(NvmeTcpSlot* s, ref NvmeCommand cmd, in NvmeData data, ushort cid)
    {
        uint length = data.Iovs != null || data.Buffer != null ? (uint)data.Length : (uint)data.InlineLength;
        if ((data.Iovs != null || data.Buffer != null) && data.Length > int.MaxValue)
        {
            return LastError.Set(Errno.EINVAL, $"NVMe/TCP: a transfer of {data.Length} bytes in one command");
        }
        int dir = NvmeSpec.DataDirection(cmd.Opcode);
        if (cmd.Opcode == NvmeFabrics.Opcode || dir == 3)
        {
            dir = 1;
        }
        if (length > 0 && dir == 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"NVMe/TCP: opcode 0x{cmd.Opcode:x2} moves no data, but {length} bytes were given");
        }
        s->Data = data;
        s->DataLength = length;
        s->Direction = (byte)(length == 0 ? 0 : dir);
        s->InCapsule = (byte)(dir == 1 && length > 0 && length <= _inCapsuleMax ? 1 : 0);
        s->R2TOffset = s->R2TLength = s->R2TSent = 0;
        s->TxBusy = 0;
        s->RespPending = 0;
        s->DataError = 0;
        cmd.Cid = cid;
        NvmeTcpPdu.SetSgl(ref cmd, length, s->InCapsule != 0);
        s->Cmd = cmd;
        return 0;
    }

    public override void RingSubmissions()
    {
        if (_fd >= 0 && !Broken)
        {
            Flush();
        }
    }

    // ------------------------------------------------------------------ completion

    /// <summary>Sends what waits, receives what arrived (bounded), and hands out up to
    /// <paramref name="max"/> completions. A disabled controller's queue
    /// (<paramref name="ack"/> false) only hands out what had completed.</summary>
    public override int Process(NvmeCompletionSink sink, int max, bool ack = true)
    {
        if (ack && _fd >= 0 && !Broken)
        {
            Flush();
            Receive();
            if (_segCount > 0 || _jobCount > 0)
            {
                Flush(); // R2Ts just received: their data goes out in this poll
            }
        }
        int n = 0;
        while (n < max && _readyCount > 0)
        {
            int cid = _ready[_readyHead];
            _readyHead = _readyHead + 1 == _slotCount + 1 ? 0 : _readyHead + 1;
            _readyCount--;
            NvmeTcpSlot* s = &_slots[cid];
            if (s->Active == 0)
            {
                continue; // released meanwhile
            }
            void* request = s->Request;
            NvmeCompletion cpl = s->Resp;
            FreeSlot(cid);
            n++;
            sink.Completed((ushort)cid, request, cpl);
        }
        return n;
    }

    private void FreeSlot(int cid)
    {
        NvmeTcpSlot* s = &_slots[cid];
        Invariant.Assert(s->Active == 1, "an NVMe/TCP slot freed twice");
        s->Active = 0;
        s->Request = null;
        s->NextFree = _freeHead;
        _freeHead = cid;
        _outstanding--;
    }

    /// <summary>A response (or a C2HData with SUCCESS) for <paramref name="cid"/>. It is handed
    /// out once every piece of the command that was queued for sending has left: the
    /// caller's buffer may be reused as soon as the callback runs.</summary>
    private int Complete(int cid, in NvmeCompletion cpl)
    {
        if (cid > _slotCount || _slots[cid].Active == 0)
        {
            SpuriousCompletions++;
            return LastError.Set(Errno.EPROTO,
                $"NVMe/TCP queue {Id}: a response for command {cid}, which is not in flight");
        }
        NvmeTcpSlot* s = &_slots[cid];
        s->Resp = cpl;
        s->Resp.Cid = (ushort)cid;
        if (s->DataError != 0 && cpl.Success)
        {
            s->Resp.Status = 0x04 << 1; // data transfer error: the received data cannot be trusted
        }
        if (cid == _slotCount)
        {
            _syncDone = true;
            return 0;
        }
        if (s->TxBusy > 0)
        {
            s->RespPending = 1;
            return 0;
        }
        MakeReady(cid);
        return 0;
    }

    private void MakeReady(int cid)
    {
        int tail = _readyHead + _readyCount;
        if (tail > _slotCount)
        {
            tail -= _slotCount + 1;
        }
        _ready[tail] = cid;
        _readyCount++;
    }

    public override bool InFlight(int cid, out void* request, out long submitTicks, out long abortTicks)
    {
        NvmeTcpSlot* s = &_slots[cid < _slotCount ? cid : 0];
        request = s->Request;
        submitTicks = s->SubmitTicks;
        abortTicks = s->AbortTicks;
        return cid < _slotCount && s->Active != 0;
    }

    /// <summary>Takes a command id off the ready ring (a command given up after its
    /// response came), so a later command in the same slot is not completed by it.</summary>
    private void Unready(int cid)
    {
        int kept = 0;
        for (int i = 0, at = _readyHead; i < _readyCount; i++, at = at + 1 == _slotCount + 1 ? 0 : at + 1)
        {
            if (_ready[at] != cid)
            {
                int to = _readyHead + kept;
                _ready[to > _slotCount ? to - _slotCount - 1 : to] = _ready[at];
                kept++;
            }
        }
        _readyCount = kept;
    }

    public override void MarkAborting(int cid, long now) => _slots[cid].AbortTicks = now;

    /// <summary>A command given up: its slot is free. Its bytes may still be queued for
    /// sending (a timed-out admin command): the stream cannot drop them, so the connection
    /// is declared broken and the controller's reset makes a new one.</summary>
    public override void Release(int cid)
    {
        if (cid >= _slotCount || _slots[cid].Active == 0)
        {
            return;
        }
        if (_slots[cid].TxBusy > 0 && _fd >= 0)
        {
            SetBroken($"command {cid} given up while parts of it were still to be sent");
        }
        Unready(cid);
        _slots[cid].RespPending = 0;
        FreeSlot(cid);
    }

    /// <summary>Every slot free, nothing to send or hand out. The connection survives only
    /// when it sits between PDUs in both directions (the fresh admin connection of a
    /// re-enabled controller); otherwise it is closed.</summary>
    public override void Reset()
    {
        if (_fd >= 0 && (!_receiver.AtBoundary || _segCount > 0 || _jobCount > 0 || _jobCid >= 0))
        {
            Close();
        }
        ClearState();
    }

    // ------------------------------------------------------------------ receive

    /// <summary>Up to <see cref="RecvPerPoll"/> receives. In the middle of a C2HData's data
    /// with at least <see cref="DirectReceiveBytes"/> to come, the receive goes straight into
    /// the command's buffer: large reads are copied once, by the kernel. Small PDUs are staged,
    /// many per receive (one system call for a batch of 4 KiB reads is cheaper than the copy).</summary>
    private void Receive()
    {
        for (int i = 0; i < RecvPerPoll; i++)
        {
            if (_receiver.DataRemaining >= DirectReceiveBytes)
            {
                if (!ReceiveDirect())
                {
                    return;
                }
                continue;
            }
            int stage = _stageBytes;
            nint n = SocketAbi.recv(_fd, _rx, (nuint)stage, SocketAbi.MSG_DONTWAIT);
            if (n < 0)
            {
                int e = Libc.LastErrno;
                if (e != Errno.EAGAIN && e != Errno.EINTR)
                {
                    SetBroken($"receive failed: {Libc.StrError(e)}");
                }
                return;
            }
            if (n == 0)
            {
                SetBroken("the controller closed the connection");
                return;
            }
            if (_receiver.Feed(new ReadOnlySpan<byte>(_rx, (int)n)) != 0)
            {
                SetBroken(LastError.Message);
                return;
            }
            if (n < stage)
            {
                return;
            }
        }
    }

    private const int DirectReceiveBytes = 4096;

    /// <summary>Receives that went straight into a command's buffer (statistics and tests).</summary>
    public long DirectReceives;

    /// <summary>C2HData bytes that came through the staging buffer and were copied (tests).</summary>
    public long StagedDataBytes;

    /// <summary>One receive into the current C2HData's buffer; false when nothing came (or
    /// the connection failed).</summary>
    private bool ReceiveDirect()
    {
        NvmeTcpSlot* s = &_slots[_c2hCid];
        int want = Piece(s, _c2hPos, (uint)_receiver.DataRemaining, out byte* p);
        nint n = SocketAbi.recv(_fd, p, (nuint)want, SocketAbi.MSG_DONTWAIT);
        if (n <= 0)
        {
            int e = n < 0 ? Libc.LastErrno : 0;
            if (n == 0)
            {
                SetBroken("the controller closed the connection");
            }
            else if (e != Errno.EAGAIN && e != Errno.EINTR)
            {
                SetBroken($"receive failed: {Libc.StrError(e)}");
            }
            return false;
        }
        _c2hPos += (uint)n;
        DirectReceives++;
        if (_receiver.DataPlaced(new ReadOnlySpan<byte>(p, (int)n)) != 0)
        {
            SetBroken(LastError.Message);
            return false;
        }
        return n == want;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SetBroken(string why)
    {
        if (Broken)
        {
            return;
        }
        Broken = true;
        _brokenReason = why;
        Log.Warn($"nvme {_transport.Address}: queue {Id}: connection lost: {why}");
        _transport.QueueBroken();
    }

    /// <summary>Copies received bytes into the command's data at <paramref name="offset"/>.</summary>
    private static void CopyIn(NvmeTcpSlot* s, uint offset, ReadOnlySpan<byte> src)
    {
        while (src.Length > 0)
        {
            int n = Piece(s, offset, (uint)src.Length, out byte* p);
            src[..n].CopyTo(new Span<byte>(p, n));
            src = src[n..];
            offset += (uint)n;
        }
    }

    /// <summary>The contiguous bytes of the command's data at <paramref name="offset"/>:
    /// up to <paramref name="max"/> of them, within one buffer of the iovec list.</summary>
    private static int Piece(NvmeTcpSlot* s, uint offset, uint max, out byte* p)
    {
        ref NvmeData d = ref s->Data;
        if (d.Buffer != null)
        {
            p = d.Buffer + offset;
            return (int)Math.Min(max, (uint)d.Length - offset);
        }
        if (d.Iovs == null)
        {
            p = (byte*)&s->Data.Inline0 + offset;
            return (int)Math.Min(max, (uint)d.InlineLength - offset);
        }
        ulong at = d.Start + offset;
        for (int i = 0; i < d.IovCount; i++)
        {
            ulong len = d.Iovs[i].Length;
            if (at < len)
            {
                p = d.Iovs[i].Base + at;
                return (int)Math.Min(max, len - at);
            }
            at -= len;
        }
        Invariant.Assert(false, "an NVMe/TCP data offset beyond the iovec list");
        p = null;
        return 0;
    }

    /// <summary>The receiver's events, checked against the queue's slots.</summary>
    private sealed class Sink(NvmeTcpQueue q) : NvmeTcpReceiveSink
    {
        public override int OnICResp(ReadOnlySpan<byte> pdu) => q.OnICResp(pdu);

        public override int OnCapsuleResp(in NvmeCompletion cpl) => q.Complete(cpl.Cid, cpl);

        public override int OnR2T(in NvmeTcpDataFields r2t) => q.OnR2T(r2t);

        public override int OnC2HDataStart(in NvmeTcpDataFields f, byte flags)
        {
            if (f.Cid > q._slotCount || q._slots[f.Cid].Active == 0 || q._slots[f.Cid].Direction != 2)
            {
                return LastError.Set(Errno.EPROTO, $"NVMe/TCP queue {q.Id}: C2HData for command {f.Cid}, " +
                    "which is not a read in flight");
            }
            NvmeTcpSlot* s = &q._slots[f.Cid];
            if ((ulong)f.Offset + f.Length > s->DataLength)
            {
                return LastError.Set(Errno.EPROTO, $"NVMe/TCP queue {q.Id}: C2HData of {f.Length} bytes at " +
                    $"{f.Offset} for command {f.Cid}, whose buffer has {s->DataLength}");
            }
            q._c2hCid = f.Cid;
            q._c2hPos = f.Offset;
            q._c2hFlags = flags;
            q._stageBytes = f.Length >= LargeDataBytes ? SmallStageBytes : RxBufferBytes;
            return 0;
        }

        public override int OnC2HData(ReadOnlySpan<byte> data)
        {
            CopyIn(&q._slots[q._c2hCid], q._c2hPos, data);
            q._c2hPos += (uint)data.Length;
            q.StagedDataBytes += data.Length;
            return 0;
        }

        public override int OnC2HDataEnd(bool digestOk)
        {
            int cid = q._c2hCid;
            q._c2hCid = -1;
            if (!digestOk)
            {
                Log.Warn($"nvme {q._transport.Address}: queue {q.Id}: data digest error on command {cid}");
                q._slots[cid].DataError = 1;
            }
            return (q._c2hFlags & NvmeTcpPdu.FlagDataSuccess) != 0 ? q.Complete(cid, default) : 0;
        }

        public override int OnTermReq(ushort fes, uint fei) => LastError.Set(Errno.ECONNRESET,
            $"the controller ended the connection (C2HTermReq: {NvmeTcpPdu.FesName(fes)}, field 0x{fei:x})");
    }

    private int OnR2T(in NvmeTcpDataFields f)
    {
        if (f.Cid > _slotCount || _slots[f.Cid].Active == 0 || _slots[f.Cid].Direction != 1 ||
            _slots[f.Cid].InCapsule != 0)
        {
            return LastError.Set(Errno.EPROTO, $"NVMe/TCP queue {Id}: R2T for command {f.Cid}, which has no " +
                "data to send by R2T");
        }
        NvmeTcpSlot* s = &_slots[f.Cid];
        if (s->R2TSent != s->R2TLength)
        {
            return LastError.Set(Errno.EPROTO, $"NVMe/TCP queue {Id}: a second R2T for command {f.Cid} while one " +
                "is outstanding (MAXR2T is 1)");
        }
        if (f.Length == 0 || (ulong)f.Offset + f.Length > s->DataLength)
        {
            return LastError.Set(Errno.EPROTO, $"NVMe/TCP queue {Id}: R2T for {f.Length} bytes at {f.Offset} of " +
                $"command {f.Cid}, which has {s->DataLength}");
        }
        s->R2TOffset = f.Offset;
        s->R2TLength = f.Length;
        s->R2TSent = 0;
        s->Ttag = f.Ttag;
        PushJob(f.Cid, JobH2C);
        return 0;
    }

    public override void Dispose()
    {
        Close();
        FreeSend();
        if (_connectData != null)
        {
            NativeMemory.Free(_connectData);
            _connectData = null;
        }
        if (_slots != null)
        {
            NativeMemory.Free(_slots);
            NativeMemory.Free(_ready);
            NativeMemory.Free(_rx);
            _slots = null;
            _ready = null;
            _rx = null;
        }
    }
}
