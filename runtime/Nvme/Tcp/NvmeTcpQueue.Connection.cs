using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;

namespace NativeBdev.Nvme.Tcp;

/// <summary>Making the connection: TCP connect, ICReq/ICResp (digests, MAXH2CDATA), Fabrics
/// Connect; and the transport's own commands (Property Get/Set) waited for. All of it runs
/// on the controller's admin poll — an OS thread of its own, never a reactor — and waits
/// with poll(2) against a deadline; the queue's owner thread takes the queue over only once
/// it is connected.</summary>
internal sealed unsafe partial class NvmeTcpQueue
{
    private bool _syncDone;
    private bool _icrespDone;
    private int _icrespStatus;
    private byte* _connectData;

    /// <summary>Opens the connection and runs ICReq/ICResp and Connect; a connection still
    /// open is closed first (a queue re-created after a reset belongs to a new association).
    /// <paramref name="cntlid"/> in: the controller to join (0xFFFF on the admin queue);
    /// out: the controller the target assigned.</summary>
    public int Open(ref ushort cntlid, uint katoMs, int timeoutMs)
    {
        Close();
        ResetStream();
        Broken = false;
        _brokenReason = "";
        long deadline = Environment.TickCount64 + timeoutMs;
        NvmeTcpOptions o = _transport.Options;
        int rc = ConnectSocket(o.Endpoint, deadline);
        if (rc == 0)
        {
            rc = InitializeConnection(o, deadline);
        }
        if (rc == 0)
        {
            rc = FabricsConnect(o, ref cntlid, katoMs, deadline);
        }
        if (rc != 0)
        {
            string message = LastError.Message;
            Close();
            return LastError.Set(-rc, message);
        }
        return 0;
    }

    private int ConnectSocket(NetEndpoint endpoint, long deadline)
    {
        int fd = SocketAbi.socket(endpoint.Family,
            SocketAbi.SOCK_STREAM | SocketAbi.SOCK_NONBLOCK | SocketAbi.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"nvme {_transport.Address}: socket failed: {Libc.StrError(e)}");
        }
        _fd = fd;
        int rc;
        fixed (byte* sa = endpoint.Sockaddr)
        {
            rc = SocketAbi.connect(fd, sa, (uint)endpoint.Sockaddr.Length);
        }
        if (rc != 0 && Libc.LastErrno != Errno.EINPROGRESS)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"nvme {_transport.Address}: connect to {endpoint} failed: {Libc.StrError(e)}");
        }
        if (rc != 0)
        {
            if ((rc = Wait(SocketAbi.POLLOUT, deadline, "the TCP connection")) != 0)
            {
                return rc;
            }
            int err = 0;
            uint len = sizeof(int);
            SocketAbi.getsockopt(fd, SocketAbi.SOL_SOCKET, SocketAbi.SO_ERROR, &err, &len);
            if (err != 0)
            {
                return LastError.Set(err, $"nvme {_transport.Address}: connect to {endpoint} failed: " +
                    Libc.StrError(err));
            }
        }
        int one = 1;
        SocketAbi.setsockopt(fd, SocketAbi.IPPROTO_TCP, SocketAbi.TCP_NODELAY, &one, sizeof(int));
        return 0;
    }

    /// <summary>ICReq with HPDA 0 and MAXR2T 0 (one R2T per command in flight), the digests
    /// asked for; the ICResp says which are on and how large an H2CData may be.</summary>
    private int InitializeConnection(NvmeTcpOptions o, long deadline)
    {
        byte* req = stackalloc byte[NvmeTcpPdu.ICBytes];
        NvmeTcpPdu.WriteICReq(new Span<byte>(req, NvmeTcpPdu.ICBytes), 0, o.HeaderDigest, o.DataDigest, 0);
        int rc = SendAll(req, NvmeTcpPdu.ICBytes, deadline);
        if (rc != 0)
        {
            return rc;
        }
        _icrespDone = false;
        while (!_icrespDone)
        {
            if ((rc = ReceiveOnce(deadline, "ICResp")) != 0)
            {
                return rc;
            }
        }
        if (_icrespStatus != 0)
        {
            return _icrespStatus;
        }
        _receiver.HeaderDigest = _headerDigest;
        _receiver.DataDigest = _dataDigest;
        _inCapsuleMax = Id == 0 ? NvmeTcpTransport.AdminInCapsuleBytes : _transport.IoInCapsuleBytes;
        return 0;
    }

    private int OnICResp(ReadOnlySpan<byte> pdu)
    {
        if (_icrespDone)
        {
            return LastError.Set(Errno.EPROTO, $"NVMe/TCP queue {Id}: a second ICResp");
        }
        NvmeTcpOptions o = _transport.Options;
        _icrespDone = true;
        _icrespStatus = NvmeTcpPdu.ReadICResp(pdu, o.HeaderDigest, o.DataDigest, out NvmeTcpICResp r);
        if (_icrespStatus == 0 && (r.HeaderDigest != o.HeaderDigest || r.DataDigest != o.DataDigest))
        {
            // The target may refuse a digest; the host then runs without (as Linux does).
            Log.Warn($"nvme {_transport.Address}: queue {Id}: digests header {(r.HeaderDigest ? "on" : "off")}, " +
                     $"data {(r.DataDigest ? "on" : "off")} (asked: {o.HeaderDigest}, {o.DataDigest})");
        }
        _headerDigest = r.HeaderDigest;
        _dataDigest = r.DataDigest;
        _maxH2CData = r.MaxH2CData;
        return 0;
    }

    private int FabricsConnect(NvmeTcpOptions o, ref ushort cntlid, uint katoMs, long deadline)
    {
        if (_connectData == null)
        {
            _connectData = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(
                NvmeFabrics.ConnectDataBytes);
        }
        NvmeFabrics.WriteConnectData(new Span<byte>(_connectData, NvmeFabrics.ConnectDataBytes), o.HostId, cntlid,
            o.SubNqn, o.HostNqn);
        if (Id != 0 && _inCapsuleMax < NvmeFabrics.ConnectDataBytes)
        {
            return LastError.Set(Errno.ENOTSUP, $"nvme {_transport.Address}: the controller's I/O capsules hold " +
                $"{_inCapsuleMax} bytes of data (IOCCSZ); Connect needs {NvmeFabrics.ConnectDataBytes}");
        }
        NvmeCommand cmd = NvmeFabrics.Connect(Id, Entries, katoMs);
        int rc = ExecuteSync(ref cmd, NvmeData.Flat(_connectData, NvmeFabrics.ConnectDataBytes), deadline,
            out NvmeCompletion cpl);
        if (rc != 0)
        {
            return rc;
        }
        if (!cpl.Success)
        {
            return LastError.Set(cpl.Sct == 1 && cpl.Sc == NvmeFabrics.ScConnectInvalidHost ? Errno.EACCES : Errno.EIO,
                $"nvme {_transport.Address}: Connect of queue {Id} refused: {NvmeFabrics.ConnectFailure(cpl)}");
        }
        cntlid = (ushort)cpl.Dw0;
        return 0;
    }

    /// <summary>Runs one of the transport's own commands in <see cref="SyncCid"/> and waits
    /// for its response; other commands' responses that arrive meanwhile are kept for the
    /// next <see cref="Process"/>.</summary>
    public int ExecuteSync(ref NvmeCommand cmd, in NvmeData data, long deadline, out NvmeCompletion cpl)
    {
        cpl = default;
        if (_fd < 0 || Broken)
        {
            return LastError.Set(Errno.ENOTCONN, $"nvme {_transport.Address}: queue {Id} is not connected" +
                (Broken ? $" ({_brokenReason})" : ""));
        }
        NvmeTcpSlot* s = &_slots[SyncCid];
        Invariant.Assert(s->Active == 0, "two synchronous NVMe/TCP commands at once");
        int rc = Prepare(s, ref cmd, data, (ushort)SyncCid);
        if (rc != 0)
        {
            return rc;
        }
        s->Active = 1;
        _syncDone = false;
        PushJob(SyncCid, JobCapsule);
        string what = cmd.Opcode == NvmeFabrics.Opcode ? $"fabrics command 0x{(byte)cmd.Nsid:x2}"
            : $"command 0x{cmd.Opcode:x2}";
        while (!_syncDone && rc == 0)
        {
            Flush();
            if (Broken)
            {
                rc = LastError.Set(Errno.ECONNRESET, $"nvme {_transport.Address}: queue {Id}: {_brokenReason}");
                break;
            }
            rc = ReceiveOnce(deadline, what);
        }
        s->Active = 0;
        if (rc != 0)
        {
            // The stream is in an unknown state (a response may still come): start over.
            SetBroken($"{what} not answered: {LastError.Message}");
            return rc;
        }
        cpl = s->Resp;
        return 0;
    }

    /// <summary>Waits for bytes (or for room to send) and feeds what came to the receiver.</summary>
    private int ReceiveOnce(long deadline, string what)
    {
        short events = (short)(SocketAbi.POLLIN | (_segCount > 0 || _jobCount > 0 ? SocketAbi.POLLOUT : 0));
        int rc = Wait(events, deadline, what);
        if (rc != 0)
        {
            return rc;
        }
        nint n = SocketAbi.recv(_fd, _rx, RxBufferBytes, SocketAbi.MSG_DONTWAIT);
        if (n < 0)
        {
            int e = Libc.LastErrno;
            return e is Errno.EAGAIN or Errno.EINTR ? 0
                : LastError.Set(e, $"nvme {_transport.Address}: queue {Id}: receive failed: {Libc.StrError(e)}");
        }
        if (n == 0)
        {
            return LastError.Set(Errno.ECONNRESET,
                $"nvme {_transport.Address}: queue {Id}: the controller closed the connection (waiting for {what})");
        }
        return _receiver.Feed(new ReadOnlySpan<byte>(_rx, (int)n));
    }

    private int Wait(short events, long deadline, string what)
    {
        while (true)
        {
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return LastError.Set(Errno.ETIMEDOUT, $"nvme {_transport.Address}: queue {Id}: no answer " +
                    $"(waiting for {what})");
            }
            var pfd = new SocketAbi.PollFd { Fd = _fd, Events = events };
            int rc = SocketAbi.poll(&pfd, 1, (int)Math.Min(left, 100));
            if (rc > 0)
            {
                return 0;
            }
            if (rc < 0 && Libc.LastErrno != Errno.EINTR)
            {
                int e = Libc.LastErrno;
                return LastError.Set(e, $"nvme {_transport.Address}: poll failed: {Libc.StrError(e)}");
            }
        }
    }

    private int SendAll(byte* p, int length, long deadline)
    {
        while (length > 0)
        {
            nint n = SocketAbi.send(_fd, p, (nuint)length, SocketAbi.MSG_DONTWAIT | SocketAbi.MSG_NOSIGNAL);
            if (n > 0)
            {
                p += n;
                length -= (int)n;
                continue;
            }
            int e = Libc.LastErrno;
            if (e != Errno.EAGAIN && e != Errno.EINTR)
            {
                return LastError.Set(e, $"nvme {_transport.Address}: send failed: {Libc.StrError(e)}");
            }
            int rc = Wait(SocketAbi.POLLOUT, deadline, "room to send");
            if (rc != 0)
            {
                return rc;
            }
        }
        return 0;
    }

    /// <summary>A new stream: nothing half sent or half received. Commands still in slots
    /// (the admin queue's, until the controller abandons them) stay; one whose response had
    /// arrived is handed out.</summary>
    private void ResetStream()
    {
        ClearSend();
        _receiver.Reset();
        _c2hCid = -1;
        for (int i = 0; i <= _slotCount; i++)
        {
            NvmeTcpSlot* s = &_slots[i];
            s->TxBusy = 0;
            if (s->RespPending != 0)
            {
                s->RespPending = 0;
                MakeReady(i);
            }
        }
    }

    /// <summary>Closes the connection (idempotent); the queue's state stays until Reset.</summary>
    public void Close()
    {
        if (_fd >= 0)
        {
            Libc.close(_fd);
            _fd = -1;
        }
    }
}
