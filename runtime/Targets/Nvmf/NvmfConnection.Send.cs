using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;

namespace NativeBdev.Targets.Nvmf;

/// <summary>What goes to the host: R2Ts, C2HData with the data straight from the request's
/// chunks, response capsules; gathered into as few sendmsg calls as the socket takes.</summary>
internal sealed unsafe partial class NvmfConnection
{
    private const int SendBatch = 64;

    /// <summary>Asks the host for a write's data: one R2T for all of it (the transfer is at
    /// most max_io_size, which is also MAXH2CDATA, so the host sends it in one or more H2CData
    /// PDUs); the transfer tag is the request's slot.</summary>
    private void SendR2T(NvmfRequest* r)
    {
        var f = new NvmeTcpDataFields(r->Cmd.Cid, (ushort)r->Index, 0, r->Length);
        r->HeaderBytes = NvmeTcpPdu.WriteR2T(new Span<byte>(r->Header, NvmfRequest.HeaderCapacity), f, _headerDigest);
        r->DataBytes = 0;
        r->TailBytes = 0;
        r->KeepAfterSend = 1;
        r->Stage = NvmfRequest.Sending;
        _sends.Push(_buffers!, r);
        QueueFlush();
    }

    /// <summary>The command is done: its response (with <paramref name="dataBytes"/> of its
    /// chunks as C2HData first, for a successful controller-to-host transfer) is queued.</summary>
    internal void Complete(NvmfRequest* r, ushort status, uint dw0 = 0, uint dataBytes = 0, uint dw1 = 0)
    {
        if (_socket.IsClosed)
        {
            _buffers!.Return(r);
            return;
        }
        if (status != 0)
        {
            dataBytes = 0;
        }
        var cpl = new NvmeCompletion
        {
            Dw0 = dw0,
            Dw1 = dw1,
            SqHead = _sqHead,
            SqId = _qid,
            Cid = r->Cmd.Cid,
            Status = status,
        };
        _sqHead = _sqSize == 0 ? (ushort)0 : (ushort)((_sqHead + 1) % (_sqSize + 1));
        var header = new Span<byte>(r->Header, NvmfRequest.HeaderCapacity);
        var tail = new Span<byte>(r->Tail, NvmfRequest.TailCapacity);
        r->TailBytes = 0;
        if (dataBytes > 0)
        {
            bool success = _options.C2HSuccess;
            var f = new NvmeTcpDataFields(r->Cmd.Cid, 0, 0, dataBytes);
            r->HeaderBytes = NvmeTcpPdu.WriteC2HData(header, f, last: true, success, _headerDigest, _dataDigest);
            if (_dataDigest)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(tail, DataDigest(r, dataBytes));
                r->TailBytes = NvmeTcpPdu.DigestBytes;
            }
            if (!success)
            {
                r->TailBytes += NvmeTcpPdu.WriteCapsuleResp(tail[r->TailBytes..], cpl, _headerDigest);
            }
        }
        else
        {
            r->HeaderBytes = NvmeTcpPdu.WriteCapsuleResp(header, cpl, _headerDigest);
        }
        r->DataBytes = dataBytes;
        r->KeepAfterSend = 0;
        r->Stage = NvmfRequest.Sending;
        _sends.Push(_buffers!, r);
        QueueFlush();
    }

    private static uint DataDigest(NvmfRequest* r, uint bytes)
    {
        uint crc = ~0u;
        for (int i = 0; i < r->ChunkCount && bytes > 0; i++)
        {
            uint n = Math.Min(bytes, (uint)r->Iov[i].Length);
            crc = Crc32c.Update(crc, new ReadOnlySpan<byte>(r->Iov[i].Base, (int)n));
            bytes -= n;
        }
        return ~crc;
    }

    /// <summary>An AER the controller answers now (a namespace notice).</summary>
    internal void CompleteAer(int slot, uint dw0) => Complete(_buffers!.Slot(slot), 0, dw0);

    private bool _flushQueued;

    private void QueueFlush()
    {
        if (!_flushQueued && !_socket.IsClosed)
        {
            _flushQueued = true;
            _group.QueueFlush(this);
        }
    }

    /// <summary>The poll group's poller: what completed since the last poll goes out, and
    /// capsules that waited for the slots it held are taken.</summary>
    internal void FlushQueued()
    {
        _flushQueued = false;
        if (_retryParked)
        {
            ResumeParked();
        }
        if (_resume || _blocked)
        {
            Pump();
            return;
        }
        Flush();
        if (_resume)
        {
            Pump(); // what went out freed what a capsule or a command waits for
            return;
        }
        MaybeFinish();
    }

    private void Flush()
    {
        if (_socket.IsClosed)
        {
            return;
        }
        Iovec* iov = stackalloc Iovec[SendBatch];
        while (!_sends.IsEmpty)
        {
            int count = Gather(iov);
            nint n = _socket.SendV(iov, count);
            if (n == -Errno.EAGAIN)
            {
                _socket.WantWrite(true);
                return;
            }
            if (n < 0)
            {
                Close($"send failed: {Libc.StrError((int)-n)}");
                return;
            }
            Sent((ulong)n);
        }
        _socket.WantWrite(false);
        if (_resume && !_pumping)
        {
            // Outside a pump (a completion's flush) nothing would look at the capsule or the
            // commands that what was sent made room for: the next poll does. (Found as a stall
            // of writes by R2T at QD 128 until the host's next PDU.)
            QueueFlush();
        }
    }

    /// <summary>The iovecs of the queued output from where the last send stopped.</summary>
    private int Gather(Iovec* iov)
    {
        int count = 0;
        ulong skip = _sendOffset;
        for (int i = _sends.Head; i >= 0 && count < SendBatch - 2; i = _buffers!.Slot(i)->Next)
        {
            NvmfRequest* r = _buffers!.Slot(i);
            Add(iov, ref count, r->Header, (uint)r->HeaderBytes, ref skip);
            uint data = r->DataBytes;
            for (int c = 0; c < r->ChunkCount && data > 0 && count < SendBatch - 1; c++)
            {
                uint n = Math.Min(data, (uint)r->Iov[c].Length);
                Add(iov, ref count, r->Iov[c].Base, n, ref skip);
                data -= n;
            }
            if (data > 0)
            {
                break; // the batch is full: the rest of this request next time
            }
            Add(iov, ref count, r->Tail, (uint)r->TailBytes, ref skip);
        }
        return count;
    }

    private static void Add(Iovec* iov, ref int count, byte* p, uint length, ref ulong skip)
    {
        if (skip >= length)
        {
            skip -= length;
            return;
        }
        iov[count].Base = p + skip;
        iov[count].Length = (nuint)(length - skip);
        count++;
        skip = 0;
    }

    private void Sent(ulong n)
    {
        while (n > 0)
        {
            NvmfRequest* r = _buffers!.Slot(_sends.Head);
            ulong left = (ulong)r->HeaderBytes + r->DataBytes + (ulong)r->TailBytes - _sendOffset;
            if (n < left)
            {
                _sendOffset += (uint)n;
                return;
            }
            n -= left;
            _sendOffset = 0;
            _sends.Pop(_buffers);
            if (r->KeepAfterSend != 0)
            {
                r->KeepAfterSend = 0;
                r->Stage = NvmfRequest.AwaitingR2TData;
                continue;
            }
            _buffers.Return(r);
            if (_blocked || !_bufferWait.IsEmpty)
            {
                _blocked = false;
                _resume = true; // a capsule in the receive buffer, or a command, waits for what this held
            }
        }
    }
}
