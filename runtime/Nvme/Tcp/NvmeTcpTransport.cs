using System;
using System.Buffers.Binary;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Tcp;

/// <summary>NVMe over TCP (SPDK's nvme_tcp.c, Linux's drivers/nvme/host/tcp.c): the admin
/// queue is a connection whose Fabrics Connect makes the association (and names the
/// controller id the I/O queues join); properties are Property Get/Set on it, answered
/// before the call returns (the admin poll is an OS thread of its own); each I/O queue is a
/// connection of its own, connected by the admin poll and then driven by its thread.
/// A lost connection, or a controller disabled for a reset, ends the association: the next
/// <see cref="StartDma"/> (the first step of every enable) makes a new one, so the
/// controller's reset is also the reconnect, and the I/O it reclaimed runs again on the new
/// queues.</summary>
internal sealed class NvmeTcpTransport : INvmeTransport
{
    /// <summary>In-capsule data on the admin queue (Linux's NVME_TCP_ADMIN_CCSZ).</summary>
    public const uint AdminInCapsuleBytes = 8192;

    public readonly NvmeTcpOptions Options;
    private NvmeTcpQueue? _admin;
    private ushort _cntlid = NvmeFabrics.DynamicControllerId;
    private bool _associationEnded = true;
    private uint _cc;
    private int _brokenQueues;

    public NvmeTcpTransport(NvmeTcpOptions options) => Options = options;

    public string Name => "tcp";
    public string Address => Options.Address;
    public string Mode => "tcp";
    public ushort ControllerId => _cntlid;
    public int KeepAliveIntervalMs => (int)Options.KeepAliveMs / 2;
    public int IoQueueLimit => Options.MaxIoQueues;
    public int IoQueueEntriesLimit => Options.IoQueueDepth + 1;
    public bool HeaderDigest => _admin?.HeaderDigest ?? false;
    public bool DataDigest => _admin?.DataDigest ?? false;

    /// <summary>In-capsule data on I/O queues: IOCCSZ x 16 minus the SQE, from identify.</summary>
    public uint IoInCapsuleBytes { get; private set; }

    /// <summary>A queue's connection failed: CSTS reads fatal until the association is made
    /// again, so the admin poll resets (reconnects) the controller.</summary>
    public void QueueBroken() => Interlocked.Increment(ref _brokenQueues);

    private bool Down => _admin == null || !_admin.IsOpen || _admin.Broken || Volatile.Read(ref _brokenQueues) != 0;

    private long Deadline => Environment.TickCount64 + Options.ConnectTimeoutMs;

    public int GetProperty32(int offset, out uint value)
    {
        int rc = GetProperty(offset, false, out ulong v);
        value = (uint)v;
        return rc;
    }

    public int GetProperty64(int offset, out ulong value) => GetProperty(offset, true, out value);

    /// <summary>A property read. Without a working association the controller is reported
    /// as the spec's state after a fatal error: CSTS.CFS set and RDY clear, CC clear (it is
    /// disabled), CAP all ones (nothing answers).</summary>
    private int GetProperty(int offset, bool eight, out ulong value)
    {
        if (!Down)
        {
            NvmeCommand cmd = NvmeFabrics.PropertyGet(offset, eight);
            if (_admin!.ExecuteSync(ref cmd, NvmeData.None, Deadline, out NvmeCompletion cpl) == 0 && cpl.Success)
            {
                value = cpl.Dw0 | (eight ? (ulong)cpl.Dw1 << 32 : 0);
                return 0;
            }
        }
        value = offset switch
        {
            NvmeSpec.RegCsts => NvmeSpec.CstsFatal,
            NvmeSpec.RegCc => 0,
            _ => eight ? ulong.MaxValue : uint.MaxValue,
        };
        return 0;
    }

    public int SetProperty32(int offset, uint value) => SetProperty(offset, value, false);

    public int SetProperty64(int offset, ulong value) => SetProperty(offset, value, true);

    private int SetProperty(int offset, ulong value, bool eight)
    {
        if (offset == NvmeSpec.RegCc)
        {
            if ((_cc & NvmeSpec.CcEnable) != 0 && (value & NvmeSpec.CcEnable) == 0)
            {
                _associationEnded = true; // a disabled fabrics controller drops its I/O queues
            }
            _cc = (uint)value;
        }
        if (Down)
        {
            return LastError.Set(Errno.ENOTCONN, $"nvme {Address}: not connected");
        }
        NvmeCommand cmd = NvmeFabrics.PropertySet(offset, value, eight);
        int rc = _admin!.ExecuteSync(ref cmd, NvmeData.None, Deadline, out NvmeCompletion cpl);
        if (rc == 0 && !cpl.Success)
        {
            rc = LastError.Set(Errno.EIO, $"nvme {Address}: Property Set 0x{offset:x} failed: " +
                NvmeSpec.StatusName(cpl.Sct, cpl.Sc));
        }
        return rc;
    }

    /// <summary>Makes the association when there is none (first attach, a lost connection,
    /// a controller disabled by a reset): a new admin connection and Connect with KATO.</summary>
    public int StartDma()
    {
        if (!_associationEnded && !Down)
        {
            return 0;
        }
        if (!_everConnected)
        {
            return Associate(); // the first attach: its error goes straight to the caller
        }
        long now = Environment.TickCount64;
        if (_lostAt == 0)
        {
            _lostAt = now;
        }
        if (now < _nextAttempt)
        {
            return -Errno.EAGAIN;
        }
        int rc = Associate();
        if (rc == 0)
        {
            _lostAt = _nextAttempt = 0;
            return 0;
        }
        if (now - _lostAt >= Options.CtrlrLossTimeoutMs)
        {
            string why = LastError.Message;
            _lostAt = _nextAttempt = 0;
            return LastError.Set(-rc, $"{why} (given up: ctrlr_loss_timeout of {Options.CtrlrLossTimeoutMs} ms)");
        }
        _nextAttempt = now + Options.ReconnectDelayMs;
        Log.Warn($"nvme {Address}: reconnect failed ({LastError.Message}); " +
                 $"next attempt in {Options.ReconnectDelayMs} ms");
        return -Errno.EAGAIN;
    }

    private bool _everConnected;
    private long _lostAt;      // when reconnecting started (0: connected)
    private long _nextAttempt;

    /// <summary>Reconnecting for longer than fast_io_fail_timeout: I/O fails at once.</summary>
    public bool FailIoFast
    {
        get
        {
            long lost = Volatile.Read(ref _lostAt);
            return lost != 0 && Options.FastIoFailTimeoutMs > 0 &&
                   Environment.TickCount64 - lost >= Options.FastIoFailTimeoutMs;
        }
    }

    private int Associate()
    {
        _admin ??= new NvmeTcpQueue(this, 0, NvmeController.AdminQueueEntries);
        _admin.Reset();
        ushort cntlid = NvmeFabrics.DynamicControllerId;
        Interlocked.Exchange(ref _brokenQueues, 0);
        int rc = _admin.Open(ref cntlid, Options.KeepAliveMs, Options.ConnectTimeoutMs);
        if (rc != 0)
        {
            return rc;
        }
        _cntlid = cntlid;
        _cc = 0;
        _associationEnded = false;
        _everConnected = true;
        Log.Info($"nvme {Address}: connected, controller id {cntlid}, digests header " +
                 $"{(_admin.HeaderDigest ? "on" : "off")} data {(_admin.DataDigest ? "on" : "off")}, " +
                 $"MAXH2CDATA {_admin.MaxH2CData}");
        return 0;
    }

    /// <summary>Nothing to cut off: the controller reaches no host memory. The association
    /// ends (the controller then drops what it holds).</summary>
    public void StopDma()
    {
        _admin?.Close();
        _associationEnded = true;
    }

    public int CreateQueue(ushort qid, int entries, out NvmeTransportQueue? queue)
    {
        if (qid == 0)
        {
            _admin ??= new NvmeTcpQueue(this, 0, entries);
            queue = _admin;
            return 0;
        }
        queue = new NvmeTcpQueue(this, qid, entries);
        return 0;
    }

    public int ConfigureAdminQueue(NvmeTransportQueue admin) => 0;

    /// <summary>The fabrics fields of identify: the I/O capsule size, checked as Linux
    /// checks them (IOCCSZ at least 4, ICDOFF 0).</summary>
    public int OnIdentify(ReadOnlySpan<byte> id)
    {
        uint ioccsz = BinaryPrimitives.ReadUInt32LittleEndian(id[1792..]);
        ushort icdoff = BinaryPrimitives.ReadUInt16LittleEndian(id[1800..]);
        if (ioccsz < 4 || icdoff != 0)
        {
            return LastError.Set(Errno.ENOTSUP,
                $"nvme {Address}: identify says IOCCSZ {ioccsz}, ICDOFF {icdoff} (need at least 4, and 0)");
        }
        IoInCapsuleBytes = (uint)Math.Min(ioccsz * 16UL - 64, 1u << 20);
        return 0;
    }

    /// <summary>A new connection for the queue, joining the association's controller.</summary>
    public void ConnectIoQueue(NvmeAdminQueue admin, NvmeTransportQueue queue, Action<int> done)
    {
        ushort cntlid = _cntlid;
        int rc = ((NvmeTcpQueue)queue).Open(ref cntlid, 0, Options.ConnectTimeoutMs);
        done(rc);
    }

    public void DisconnectIoQueue(NvmeAdminQueue admin, NvmeTransportQueue queue, Action<int> done)
    {
        ((NvmeTcpQueue)queue).Close();
        done(0);
    }

    public void Dispose()
    {
        _admin?.Dispose();
        _admin = null;
    }
}
