using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Nbd;

/// <summary>The data path: bdev I/O per request, completions, replies and their sending.</summary>
internal sealed unsafe partial class NbdConnection
{
    private void Submit(NbdSlot* s)
    {
        s->Stage = NbdSlot.AtBdev;
        _atBdev++;
        Launch(s, front: false);
    }

    /// <summary>Hands a request to the bdev; the thread's bdev_io pool being empty (-ENOMEM)
    /// parks it until an I/O is free (spdk_bdev_queue_io_wait). False when it was parked.</summary>
    private bool Launch(NbdSlot* s, bool front)
    {
        ulong bs = _geometry.BlockSize;
        bool fua = (s->Flags & NbdProtocol.CmdFlagFua) != 0 && _canFlush;
        int rc;
        switch (s->FlushAfter == 2 ? NbdProtocol.CmdFlush : s->Type)
        {
            case NbdProtocol.CmdRead:
                rc = Io(s, BdevIoType.Read, s->Iov, s->ChunkCount, s->Offset / bs, s->Length / bs);
                break;
            case NbdProtocol.CmdWrite:
                s->FlushAfter = fua ? (byte)1 : (byte)0;
                rc = Io(s, BdevIoType.Write, s->Iov, s->ChunkCount, s->Offset / bs, s->Length / bs);
                break;
            case NbdProtocol.CmdTrim:
                s->FlushAfter = fua ? (byte)1 : (byte)0;
                rc = Io(s, BdevIoType.Unmap, null, 0, s->Offset / bs, s->Length / bs);
                break;
            case NbdProtocol.CmdWriteZeroes:
                // NO_HOLE changes nothing: the bdev's write-zeroes leaves the range reading as
                // zeroes, and base:allocation reports no holes.
                s->FlushAfter = fua ? (byte)1 : (byte)0;
                rc = Io(s, BdevIoType.WriteZeroes, null, 0, s->Offset / bs, s->Length / bs);
                break;
            case NbdProtocol.CmdFlush:
                // A bdev without flush keeps no volatile cache: nothing to do.
                rc = _canFlush ? Io(s, BdevIoType.Flush, null, 0, 0, _desc!.Bdev.BlockCount) : 0;
                if (rc == 0 && !_canFlush)
                {
                    _atBdev--;
                    Reply(s);
                    return true;
                }
                break;
            default: // BLOCK_STATUS: the bdev knows no holes; the whole range is data
                _atBdev--;
                Reply(s);
                return true;
        }
        if (rc == -Errno.ENOMEM)
        {
            Park(s, front);
            return false;
        }
        if (rc != 0)
        {
            _atBdev--;
            s->Error = Map(rc);
            Reply(s);
        }
        return true;
    }

    // ------------------------------------------------------------------ waiting for a bdev_io

    private bool _ioWaitQueued;
    private bool _retryParked;

    private void Park(NbdSlot* s, bool front)
    {
        if (front)
        {
            _parked.PushFront(_buffers!, s);
        }
        else
        {
            _parked.Push(_buffers!, s);
        }
        if (_ioWaitQueued || _retryParked)
        {
            return;
        }
        nint self = GCHandle.ToIntPtr(_self);
        int rc = _channel!.QueueIoWait(self, (nint)(delegate* unmanaged[Cdecl]<void*, void>)&OnIoWait, self);
        if (rc == 0)
        {
            _ioWaitQueued = true;
            return;
        }
        // An I/O came free meanwhile (the completion reserve): retry from the server's poller.
        _retryParked = true;
        if (!_flushQueued)
        {
            _flushQueued = true; // even once the socket closed: the parked requests must end
            _server.QueueFlush(this);
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnIoWait(void* arg) => IoWait(arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void IoWait(void* arg)
    {
        try
        {
            var c = (NbdConnection)GCHandle.FromIntPtr((nint)arg).Target!;
            c._ioWaitQueued = false;
            c.ResumeParked();
        }
        catch (Exception e)
        {
            Log.Error($"nbd: resuming requests that waited for a bdev_io failed: {e}");
        }
    }

    /// <summary>Launches the parked requests in order until the pool is empty again.</summary>
    private void ResumeParked()
    {
        _retryParked = false;
        while (!_parked.IsEmpty && !_ioWaitQueued && !_retryParked)
        {
            NbdSlot* s = _parked.Pop(_buffers!);
            if (_socket.IsClosed)
            {
                _atBdev--;
                _buffers!.Return(s);
                continue;
            }
            Launch(s, front: true);
        }
        Flush();
        MaybeFinish();
    }

    private int Io(NbdSlot* s, BdevIoType type, Iovec* iov, int iovCount, ulong offsetBlocks, ulong numBlocks) =>
        _channel!.Submit(_desc!, type, iov, iovCount, null, offsetBlocks, numBlocks,
            (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnIoDone, (nint)s);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnIoDone(BdevIo* io, int status, void* arg) => IoDone(io, status, arg);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void IoDone(BdevIo* io, int status, void* arg)
    {
        try
        {
            var s = (NbdSlot*)arg;
            ((NbdConnection)GCHandle.FromIntPtr(s->Owner).Target!).Completed(s, status);
        }
        catch (Exception e)
        {
            var c = (NbdConnection?)GCHandle.FromIntPtr(((NbdSlot*)arg)->Owner).Target;
            Log.Error($"nbd: completion on export '{c?._export?.Name}' failed, closing the connection: {e}");
            c?.CloseSocket();
            c?.MaybeFinish();
        }
    }

    private void Completed(NbdSlot* s, int status)
    {
        if (status == 0 && s->FlushAfter == 1 && !_socket.IsClosed)
        {
            s->FlushAfter = 2; // the reply waits for the flush
            int rc = Io(s, BdevIoType.Flush, null, 0, 0, _desc!.Bdev.BlockCount);
            if (rc == 0)
            {
                return;
            }
            if (rc == -Errno.ENOMEM)
            {
                Park(s, front: false);
                return;
            }
            status = rc;
        }
        _atBdev--;
        if (status != 0)
        {
            s->Error = Map(status);
        }
        Reply(s);
        if (_blocked)
        {
            _blocked = false;
            Pump(); // a request waited for what this one held
            return;
        }
        // Sent from the server's poller, after this poll's other completions: one sendmsg
        // for a batch rather than one per reply.
        QueueFlush();
        MaybeFinish();
    }

    private bool _flushQueued;

    private void QueueFlush()
    {
        if (!_flushQueued && !_socket.IsClosed)
        {
            _flushQueued = true;
            _server.QueueFlush(this);
        }
    }

    /// <summary>The server's poller: the replies completed since the last poll go out, and
    /// requests that waited for the slots they held are taken.</summary>
    internal void FlushQueued()
    {
        _flushQueued = false;
        if (_retryParked)
        {
            ResumeParked();
        }
        Flush();
        if (_resume)
        {
            Pump();
            return;
        }
        MaybeFinish();
    }

    /// <summary>The NBD error for a bdev layer errno.</summary>
    public static uint Map(int rc) => -rc switch
    {
        Errno.EPERM or Errno.EBADF or Errno.EROFS or Errno.EACCES => NbdProtocol.EPERM,
        Errno.ENOMEM or Errno.EAGAIN => NbdProtocol.ENOMEM,
        Errno.EINVAL => NbdProtocol.EINVAL,
        Errno.ENOSPC or Errno.EFBIG => NbdProtocol.ENOSPC,
        Errno.EOVERFLOW => NbdProtocol.EOVERFLOW,
        Errno.ENOTSUP => NbdProtocol.ENOTSUP,
        Errno.ENODEV or Errno.ESHUTDOWN => NbdProtocol.ESHUTDOWN,
        _ => NbdProtocol.EIO,
    };

    /// <summary>Queues the reply of a finished request (or drops it when the client is gone).</summary>
    private void Reply(NbdSlot* s)
    {
        if (_socket.IsClosed)
        {
            _buffers!.Return(s);
            return;
        }
        NbdRequest r = s->Request;
        var header = new Span<byte>(s->Header, NbdSlot.HeaderCapacity);
        s->HeaderBytes = r.Type == NbdProtocol.CmdBlockStatus && s->Error == 0
            ? NbdWire.WriteBlockStatus(header, r.Cookie, NbdProtocol.BaseAllocationId, r.Length, 0)
            : NbdWire.WriteReply(header, _structured, r, s->Error);
        s->DataBytes = r.Type == NbdProtocol.CmdRead && s->Error == 0 ? r.Length : 0;
        s->Stage = NbdSlot.Replying;
        _sends.Push(_buffers!, s);
    }

    /// <summary>Sends the handshake's replies, then the queued request replies, gathered
    /// into as few system calls as the kernel's buffer allows.</summary>
    private void Flush()
    {
        if (_socket.IsClosed)
        {
            return;
        }
        NbdHandshake? hs = _handshake ?? _pendingHandshake;
        if (hs != null)
        {
            while (_handshakeSent < hs.Output.WrittenCount)
            {
                int n = _socket.Send(hs.Output.WrittenSpan[_handshakeSent..]);
                if (n == -Errno.EAGAIN)
                {
                    _socket.WantWrite(true);
                    return;
                }
                if (n < 0)
                {
                    CloseSocket();
                    return;
                }
                _handshakeSent += n;
            }
            hs.Output.ResetWrittenCount();
            _handshakeSent = 0;
            _pendingHandshake = null;
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
                CloseSocket();
                return;
            }
            Sent((ulong)n);
        }
        _socket.WantWrite(false);
    }

    /// <summary>The iovecs of the queued replies from where the last send stopped.</summary>
    private int Gather(Iovec* iov)
    {
        int count = 0;
        uint skip = _sendOffset;
        for (int i = _sends.Head; i >= 0 && count < SendBatch; i = _buffers!.Slot(i)->Next)
        {
            NbdSlot* s = _buffers!.Slot(i);
            if (skip < (uint)s->HeaderBytes)
            {
                iov[count].Base = s->Header + skip;
                iov[count].Length = (nuint)(s->HeaderBytes - (int)skip);
                count++;
                skip = 0;
            }
            else
            {
                skip -= (uint)s->HeaderBytes;
            }
            if (s->DataBytes == 0)
            {
                continue;
            }
            for (int c = 0; c < s->ChunkCount && count < SendBatch; c++)
            {
                uint length = (uint)s->Iov[c].Length;
                if (skip >= length)
                {
                    skip -= length;
                    continue;
                }
                iov[count].Base = s->Iov[c].Base + skip;
                iov[count].Length = length - skip;
                count++;
                skip = 0;
            }
        }
        return count;
    }

    private void Sent(ulong n)
    {
        while (n > 0)
        {
            NbdSlot* s = _buffers!.Slot(_sends.Head);
            ulong left = (ulong)s->HeaderBytes + s->DataBytes - _sendOffset;
            if (n < left)
            {
                _sendOffset += (uint)n;
                return;
            }
            n -= left;
            _sendOffset = 0;
            _buffers.Return(_sends.Pop(_buffers));
            if (_blocked)
            {
                _blocked = false;
                _resume = true; // a request waits in the receive buffer for what this held
            }
        }
    }

    // ------------------------------------------------------------------ ending

    /// <summary>Closes the socket now (a hard disconnect); requests at the bdev finish
    /// later and are dropped, then the connection's resources go (<see cref="MaybeFinish"/>).</summary>
    internal void CloseSocket()
    {
        if (_socket.IsClosed)
        {
            return;
        }
        _socket.Close();
        _draining = true;
        while (!_sends.IsEmpty)
        {
            _buffers!.Return(_sends.Pop(_buffers));
        }
        _sendOffset = 0;
        if (_payload != null)
        {
            _buffers!.Return(_payload);
            _payload = null;
        }
    }

    /// <summary>A draining connection closes once nothing is in flight and every reply went
    /// out; a closed one releases its bdev, channel and buffers once the bdev gave back
    /// every request.</summary>
    internal void MaybeFinish()
    {
        if (_pumping || _disposed)
        {
            return;
        }
        bool outputPending = !_sends.IsEmpty ||
            ((_handshake ?? _pendingHandshake) is { } hs && hs.Output.WrittenCount > _handshakeSent);
        if (!_socket.IsClosed && _draining && _atBdev == 0 && !outputPending)
        {
            CloseSocket();
        }
        if (!_socket.IsClosed || _atBdev > 0)
        {
            return;
        }
        _disposed = true;
        _ioChannel?.Put();
        if (_desc != null)
        {
            BdevRegistry.Close(_desc);
        }
        _buffers?.Dispose();
        if (_self.IsAllocated)
        {
            _self.Free();
        }
        _server.Closed(this);
    }

    // ------------------------------------------------------------------ the catalog

    public NbdExportView? Find(ReadOnlySpan<byte> name) => _server.FindView(name);

    public void List(System.Collections.Generic.List<NbdExportView> exports) => _server.ListViews(exports);

    /// <summary>Takes <paramref name="export"/> into use without a handshake (a kernel disk):
    /// 0, or -errno with <see cref="LastError"/> saying why.</summary>
    public int AttachExport(NbdExport export, NbdExportGeometry geometry)
    {
        string? why = Attach(new NbdExportView(export.NameUtf8, export.DescriptionUtf8, geometry, export));
        return why == null ? 0 : LastError.Set(LastError.Errno > 0 ? LastError.Errno : Errno.EIO, why);
    }

    public string? Attach(NbdExportView view)
    {
        var export = (NbdExport)view.Tag!;
        if (_desc != null)
        {
            return "the connection already uses an export";
        }
        int rc = BdevRegistry.Open(export.BdevName, !export.ReadOnly, null, null, OnBdevEvent, out BdevDesc? desc);
        if (rc != 0)
        {
            return LastError.Message;
        }
        rc = desc!.GetIoChannel(out IoChannel? ch);
        if (rc != 0)
        {
            string why = LastError.Message;
            BdevRegistry.Close(desc);
            return why;
        }
        _self = GCHandle.Alloc(this);
        rc = NbdBuffers.Create(_server.Options, desc.Bdev.BlockSize, desc.Bdev.RequiredAlignment,
            GCHandle.ToIntPtr(_self), out _buffers);
        if (rc != 0)
        {
            string why = LastError.Message;
            _self.Free();
            ch!.Put();
            BdevRegistry.Close(desc);
            return why;
        }
        _desc = desc;
        _ioChannel = ch;
        _channel = (BdevChannel)ch!.State!;
        _canFlush = desc.Bdev.IoTypeSupported(BdevIoType.Flush);
        _geometry = view.Geometry;
        _export = export;
        return null;
    }

    private void OnBdevEvent(BdevEventType type, Bdev.Bdev bdev)
    {
        if (type == BdevEventType.Remove || type == BdevEventType.Failed)
        {
            _server.BdevGoing(this, $"bdev '{bdev.Name}' is going away ({type})");
        }
    }
}
