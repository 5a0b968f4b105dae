using System;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Tcp;

/// <summary>The send half: jobs (a capsule, or the H2CData an R2T asked for) in order;
/// the job at the head is cut into pieces — PDU headers and digests written into a small
/// ring of our own (the arena), data pointed at where it lies — and pieces go to the kernel
/// with one sendmsg of up to <see cref="IovPerSend"/> buffers. Bounded: when the piece ring
/// or the arena is full the job waits and continues where it stopped, so a submission never
/// fails for room. Each command's job ends with a zero-length marker piece: once it has
/// left, the command's buffers are the caller's again.</summary>
internal sealed unsafe partial class NvmeTcpQueue
{
    private const int SegmentCapacity = 1024;
    private const int ArenaBytes = 64 * 1024;
    private const int IovPerSend = 64;
    private const int JobCapsule = 0;
    private const int JobH2C = 1;
    private const int HeaderRoom = 80; // a 72-byte capsule header and its digest, rounded to 8

    private NvmeTcpSegment* _segs;
    private int _segHead;
    private int _segCount;
    private int _segSentBytes;          // bytes of the head piece already sent
    private byte* _arena;
    private int _arenaHead;
    private int _arenaTail;
    private int _arenaUsed;
    private int* _jobs;                 // cid | kind << 16
    private int _jobCapacity;
    private int _jobHead;
    private int _jobCount;
    private int _jobCid;                // the job being cut into pieces (-1: none)
    private int _jobKind;
    private int _jobStage;
    private uint _jobPos;
    private uint _pduEnd;
    private uint _jobCrc;
    private Iovec* _iov;

    /// <summary>Bytes handed to the kernel (statistics and tests).</summary>
    public long BytesSent;

    private void AllocateSend()
    {
        _segs = (NvmeTcpSegment*)NativeMemory.AllocZeroed((nuint)(SegmentCapacity * sizeof(NvmeTcpSegment)));
        _arena = (byte*)NativeMemory.AllocZeroed(ArenaBytes);
        _jobCapacity = 2 * (_slotCount + 1); // a capsule and one R2T's data per command at most
        _jobs = (int*)NativeMemory.AllocZeroed((nuint)(_jobCapacity * sizeof(int)));
        _iov = (Iovec*)NativeMemory.AllocZeroed((nuint)(IovPerSend * sizeof(Iovec)));
    }

    private void FreeSend()
    {
        if (_segs != null)
        {
            NativeMemory.Free(_segs);
            NativeMemory.Free(_arena);
            NativeMemory.Free(_jobs);
            NativeMemory.Free(_iov);
            _segs = null;
            _arena = null;
            _jobs = null;
            _iov = null;
        }
    }

    private void ClearSend()
    {
        _segHead = _segCount = _segSentBytes = 0;
        _arenaHead = _arenaTail = _arenaUsed = 0;
        _jobHead = _jobCount = 0;
        _jobCid = -1;
    }

    private void PushJob(int cid, int kind)
    {
        Invariant.Assert(_jobCount < _jobCapacity, "more NVMe/TCP send jobs than commands allow");
        int at = _jobHead + _jobCount;
        if (at >= _jobCapacity)
        {
            at -= _jobCapacity;
        }
        _jobs[at] = cid | kind << 16;
        _jobCount++;
        _slots[cid].TxBusy++;
    }

    /// <summary>Cuts jobs into pieces and sends, until everything is sent or the kernel
    /// takes no more.</summary>
    private void Flush()
    {
        while (true)
        {
            while (_jobCid >= 0 || _jobCount > 0)
            {
                if (_jobCid < 0)
                {
                    int j = _jobs[_jobHead];
                    _jobHead = _jobHead + 1 == _jobCapacity ? 0 : _jobHead + 1;
                    _jobCount--;
                    _jobCid = j & 0xFFFF;
                    _jobKind = j >> 16;
                    _jobStage = 0;
                }
                if (!(_jobKind == JobCapsule ? CutCapsule() : CutH2C()))
                {
                    break; // out of room: the rest after some pieces have left
                }
                _jobCid = -1;
            }
            if (_segCount == 0)
            {
                return;
            }
            int sent = SendPieces();
            if (sent <= 0 || Broken)
            {
                return;
            }
        }
    }

    /// <summary>Contiguous arena bytes (the ring's unused tail is skipped when too short).</summary>
    private byte* ArenaTake(int n, out int release)
    {
        if (_arenaTail + n <= ArenaBytes && _arenaUsed + n <= ArenaBytes)
        {
            byte* p = _arena + _arenaTail;
            _arenaTail += n;
            release = n;
            _arenaUsed += n;
            return p;
        }
        int waste = ArenaBytes - _arenaTail;
        if (_arenaUsed + waste + n > ArenaBytes)
        {
            release = 0;
            return null;
        }
        _arenaTail = n;
        release = waste + n;
        _arenaUsed += release;
        return _arena;
    }

    private bool PushPiece(byte* p, int length, int release, int doneCid)
    {
        if (_segCount == SegmentCapacity)
        {
            return false;
        }
        int at = _segHead + _segCount;
        if (at >= SegmentCapacity)
        {
            at -= SegmentCapacity;
        }
        _segs[at] = new NvmeTcpSegment { Ptr = p, Length = length, ArenaRelease = release, DoneCid = doneCid };
        _segCount++;
        return true;
    }

    /// <summary>A header (or digest) of <paramref name="room"/> bytes in the arena and its
    /// piece; null when either is full.</summary>
    private byte* HeaderPiece(int room, int used)
    {
        if (_segCount >= SegmentCapacity - 1)
        {
            return null;
        }
        byte* p = ArenaTake(room, out int release);
        if (p == null)
        {
            return null;
        }
        PushPiece(p, used, release, 0);
        return p;
    }

    /// <summary>Stages: 0 header, 1 in-capsule data, 2 data digest, 3 end marker. True when
    /// the job is all in pieces.</summary>
    private bool CutCapsule()
    {
        NvmeTcpSlot* s = &_slots[_jobCid];
        while (true)
        {
            switch (_jobStage)
            {
                case 0:
                    int inCapsule = s->InCapsule != 0 ? (int)s->DataLength : 0;
                    int hlen = NvmeTcpPdu.CapsuleCmdHeaderBytes + (_headerDigest ? NvmeTcpPdu.DigestBytes : 0);
                    byte* h = HeaderPiece(HeaderRoom, hlen);
                    if (h == null)
                    {
                        return false;
                    }
                    NvmeTcpPdu.WriteCapsuleCmd(new Span<byte>(h, HeaderRoom), s->Cmd, inCapsule, _headerDigest,
                        _dataDigest);
                    _jobPos = 0;
                    _pduEnd = (uint)inCapsule;
                    _jobCrc = ~0u;
                    _jobStage = inCapsule > 0 ? 1 : 3;
                    break;
                case 1:
                    if (!CutData(s))
                    {
                        return false;
                    }
                    _jobStage = _dataDigest ? 2 : 3;
                    break;
                case 2:
                    if (!DigestPiece())
                    {
                        return false;
                    }
                    _jobStage = 3;
                    break;
                default:
                    return PushPiece(null, 0, 0, _jobCid + 1);
            }
        }
    }

    /// <summary>Stages: 0 the next H2CData header (at most MAXH2CDATA of the R2T's range per
    /// PDU), 1 its data, 2 its digest, back to 0 until the range is covered, 3 end marker.</summary>
    private bool CutH2C()
    {
        NvmeTcpSlot* s = &_slots[_jobCid];
        while (true)
        {
            switch (_jobStage)
            {
                case 0:
                    if (s->R2TSent >= s->R2TLength)
                    {
                        _jobStage = 3;
                        break;
                    }
                    uint chunk = Math.Min(s->R2TLength - s->R2TSent, _maxH2CData);
                    int hlen = NvmeTcpPdu.DataHeaderBytes + (_headerDigest ? NvmeTcpPdu.DigestBytes : 0);
                    byte* h = HeaderPiece(32, hlen);
                    if (h == null)
                    {
                        return false;
                    }
                    _jobPos = s->R2TOffset + s->R2TSent;
                    _pduEnd = _jobPos + chunk;
                    s->R2TSent += chunk;
                    NvmeTcpPdu.WriteH2CData(new Span<byte>(h, 32),
                        new NvmeTcpDataFields((ushort)_jobCid, s->Ttag, _jobPos, chunk), s->R2TSent == s->R2TLength,
                        _headerDigest, _dataDigest);
                    _jobCrc = ~0u;
                    _jobStage = 1;
                    break;
                case 1:
                    if (!CutData(s))
                    {
                        return false;
                    }
                    _jobStage = _dataDigest ? 2 : 0;
                    break;
                case 2:
                    if (!DigestPiece())
                    {
                        return false;
                    }
                    _jobStage = 0;
                    break;
                default:
                    return PushPiece(null, 0, 0, _jobCid + 1);
            }
        }
    }

    /// <summary>Pieces for the data [_jobPos, _pduEnd) of the command, the digest summed on
    /// the way (one pass over the data, while it is in cache for the send anyway).</summary>
    private bool CutData(NvmeTcpSlot* s)
    {
        while (_jobPos < _pduEnd)
        {
            if (_segCount >= SegmentCapacity - 2) // room left for the digest and the marker
            {
                return false;
            }
            int n = Piece(s, _jobPos, _pduEnd - _jobPos, out byte* p);
            if (_dataDigest)
            {
                _jobCrc = Crc32c.Update(_jobCrc, new ReadOnlySpan<byte>(p, n));
            }
            PushPiece(p, n, 0, 0);
            _jobPos += (uint)n;
        }
        return true;
    }

    private bool DigestPiece()
    {
        byte* d = HeaderPiece(8, NvmeTcpPdu.DigestBytes);
        if (d == null)
        {
            return false;
        }
        *(uint*)d = ~_jobCrc;
        return true;
    }

    /// <summary>One sendmsg of the pieces at the head; the bytes it took, 0 when the
    /// kernel's buffer is full, -1 when the connection failed.</summary>
    private int SendPieces()
    {
        int count = 0;
        for (int i = 0, at = _segHead; i < _segCount && count < IovPerSend; i++)
        {
            NvmeTcpSegment* g = &_segs[at];
            int skip = i == 0 ? _segSentBytes : 0;
            if (g->Length - skip > 0)
            {
                _iov[count].Base = g->Ptr + skip;
                _iov[count].Length = (nuint)(g->Length - skip);
                count++;
            }
            at = at + 1 == SegmentCapacity ? 0 : at + 1;
        }
        long n = 0;
        if (count > 0)
        {
            var msg = new SocketAbi.Msghdr { Iov = _iov, IovLength = (nuint)count };
            n = SocketAbi.sendmsg(_fd, &msg, SocketAbi.MSG_DONTWAIT | SocketAbi.MSG_NOSIGNAL);
            if (n < 0)
            {
                int e = Libc.LastErrno;
                if (e == Errno.EAGAIN || e == Errno.EINTR)
                {
                    return 0;
                }
                SetBroken($"send failed: {Libc.StrError(e)}");
                return -1;
            }
            BytesSent += n;
        }
        Consume(n);
        return count == 0 ? 1 : (int)Math.Min(n, int.MaxValue);
    }

    /// <summary>Retires the pieces <paramref name="n"/> sent bytes cover (and the markers
    /// after them): arena bytes come back, a command whose last piece left may complete.</summary>
    private void Consume(long n)
    {
        while (_segCount > 0)
        {
            NvmeTcpSegment* g = &_segs[_segHead];
            long left = g->Length - _segSentBytes;
            if (n < left)
            {
                _segSentBytes += (int)n;
                return;
            }
            n -= left;
            _segSentBytes = 0;
            if (g->ArenaRelease > 0)
            {
                _arenaUsed -= g->ArenaRelease;
                _arenaHead = (_arenaHead + g->ArenaRelease) % ArenaBytes;
                if (_arenaUsed == 0)
                {
                    _arenaHead = _arenaTail = 0;
                }
            }
            if (g->DoneCid != 0)
            {
                JobSent(g->DoneCid - 1);
            }
            _segHead = _segHead + 1 == SegmentCapacity ? 0 : _segHead + 1;
            _segCount--;
        }
    }

    private void JobSent(int cid)
    {
        NvmeTcpSlot* s = &_slots[cid];
        s->TxBusy--;
        if (s->TxBusy == 0 && s->RespPending != 0)
        {
            s->RespPending = 0;
            MakeReady(cid);
        }
    }
}
