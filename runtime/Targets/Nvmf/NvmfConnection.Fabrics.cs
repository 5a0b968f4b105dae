using System;
using System.Buffers.Binary;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The fabrics commands (opcode 7Fh): Connect makes this connection a controller's
/// admin queue or one of its I/O queues; Property Get and Set stand for register access;
/// Disconnect ends the queue.</summary>
internal sealed unsafe partial class NvmfConnection
{
    private const byte FabricsDisconnect = 0x08;
    private const ushort CapTimeout = 30; // CAP.TO: 15 s in 500 ms units

    private void Fabrics(NvmfRequest* r)
    {
        byte type = (byte)r->Cmd.Nsid;
        if (type == NvmeFabrics.TypeConnect)
        {
            Connect(r);
            return;
        }
        if (!_connected)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, ScCommandSequenceError));
            _closeReason = "a fabrics command before Connect";
            _draining = true;
            return;
        }
        switch (type)
        {
            case NvmeFabrics.TypePropertyGet when _qid == 0:
                PropertyGet(r);
                return;
            case NvmeFabrics.TypePropertySet when _qid == 0:
                PropertySet(r);
                return;
            case FabricsDisconnect:
                Complete(r, 0);
                _closeReason = "the host disconnected the queue";
                _draining = true;
                return;
            default:
                Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidOpcode));
                return;
        }
    }

    private void Connect(NvmfRequest* r)
    {
        if (_connected)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, ScCommandSequenceError));
            return;
        }
        if (r->Length < NvmeFabrics.ConnectDataBytes)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, ScDataSglLengthInvalid));
            return;
        }
        Span<byte> data = stackalloc byte[NvmeFabrics.ConnectDataBytes];
        NvmfBuffers.CopyOut(r, data);
        ushort recfmt = (ushort)r->Cmd.Cdw10;
        ushort qid = (ushort)(r->Cmd.Cdw10 >> 16);
        ushort sqsize = (ushort)r->Cmd.Cdw11;
        uint kato = r->Cmd.Cdw12;
        var hostId = new Guid(data[..16], bigEndian: true);
        ushort cntlid = BinaryPrimitives.ReadUInt16LittleEndian(data[16..]);
        string subnqn = Nqn(data.Slice(256, 256));
        string hostnqn = Nqn(data.Slice(512, 256));
        if (recfmt != 0)
        {
            Refuse(r, NvmeFabrics.ScConnectIncompatibleFormat, $"connect record format {recfmt}");
            return;
        }
        NvmfSubsystem? s = _target.Find(subnqn);
        if (s == null)
        {
            InvalidParameter(r, inData: true, 256, $"no subsystem '{subnqn}'");
            return;
        }
        if (!NvmeFabrics.IsValidNqn(hostnqn, out string why))
        {
            InvalidParameter(r, inData: true, 512, $"host NQN '{hostnqn}': {why}");
            return;
        }
        if (!s.HostAllowed(hostnqn))
        {
            Refuse(r, NvmeFabrics.ScConnectInvalidHost, $"host '{hostnqn}' may not connect to '{s.Nqn}'");
            return;
        }
        if (qid == 0)
        {
            ConnectAdmin(r, s, cntlid, sqsize, kato, hostnqn, hostId);
        }
        else
        {
            ConnectIo(r, s, cntlid, qid, sqsize, hostnqn);
        }
    }

    private void ConnectAdmin(NvmfRequest* r, NvmfSubsystem s, ushort cntlid, ushort sqsize, uint kato,
        string hostnqn, Guid hostId)
    {
        if (cntlid != NvmeFabrics.DynamicControllerId)
        {
            InvalidParameter(r, inData: true, 16, $"admin connect for controller {cntlid} (only dynamic: 0xFFFF)");
            return;
        }
        if (sqsize < 1 || sqsize >= _options.MaxAdminQueueDepth)
        {
            InvalidParameter(r, inData: false, 44,
                $"admin queue of {sqsize + 1} entries (2 to {_options.MaxAdminQueueDepth})");
            return;
        }
        ushort id = s.AllocateCntlid();
        if (id == 0)
        {
            Refuse(r, NvmeFabrics.ScConnectControllerBusy, $"'{s.Nqn}' has no free controller id");
            return;
        }
        var c = new NvmfController(s, id, hostnqn, hostId, kato, this, _options.MaxQpairsPerController - 1);
        s.AddController(c);
        Attach(s, c, 0, sqsize);
        System.Threading.Interlocked.Increment(ref _group.AdminQpairs);
        System.Threading.Interlocked.Increment(ref _group.CurrentAdminQpairs);
        Log.Info($"nvmf: host '{hostnqn}' made controller {id} of '{s.Nqn}' (keep-alive {kato} ms)");
        Complete(r, 0, id);
    }

    private void ConnectIo(NvmfRequest* r, NvmfSubsystem s, ushort cntlid, ushort qid, ushort sqsize, string hostnqn)
    {
        NvmfController? c = s.IsDiscovery ? null : s.Controller(cntlid);
        if (c == null)
        {
            InvalidParameter(r, inData: true, 16,
                $"I/O queue connect for controller {cntlid}, which '{s.Nqn}' has not");
            return;
        }
        if (c.HostNqn != hostnqn)
        {
            InvalidParameter(r, inData: true, 512, $"I/O queue connect from '{hostnqn}' for {c.HostNqn}'s controller");
            return;
        }
        if (!c.Enabled)
        {
            Log.Info($"nvmf: I/O queue {qid} connect for controller {cntlid}, which is not enabled");
            Complete(r, Status(NvmeSpec.SctGeneric, ScCommandSequenceError));
            return;
        }
        if (qid > c.GrantedIoQueues)
        {
            InvalidParameter(r, inData: false, 42, $"I/O queue {qid} (controller {cntlid} has {c.GrantedIoQueues})");
            return;
        }
        if (c.IoQueues[qid - 1] != null)
        {
            InvalidParameter(r, inData: false, 42, $"I/O queue {qid} of controller {cntlid} is connected already");
            return;
        }
        if (sqsize < 1 || sqsize >= _options.MaxQueueDepth)
        {
            InvalidParameter(r, inData: false, 44,
                $"I/O queue of {sqsize + 1} entries (2 to {_options.MaxQueueDepth})");
            return;
        }
        c.IoQueues[qid - 1] = this;
        Attach(s, c, qid, sqsize);
        Complete(r, 0, cntlid);
        NvmfPollGroup g = _target.NextIoGroup();
        if (g != _group)
        {
            _moveTo = g; // after this pump, with nothing of it at a bdev
            return;
        }
        System.Threading.Interlocked.Increment(ref _group.IoQpairs);
        System.Threading.Interlocked.Increment(ref _group.CurrentIoQpairs);
        _countedIo = true;
    }

    private void Attach(NvmfSubsystem s, NvmfController c, ushort qid, ushort sqsize)
    {
        _subsystem = s;
        _controller = c;
        _qid = qid;
        _sqSize = sqsize;
        _connected = true;
    }

    private void InvalidParameter(NvmfRequest* r, bool inData, ushort offset, string why)
    {
        Log.Info($"nvmf: connect refused: {why}");
        Complete(r, Status(NvmeSpec.SctCommandSpecific, NvmeFabrics.ScConnectInvalidParameters),
            (inData ? 1u << 16 : 0) | offset);
    }

    private void Refuse(NvmfRequest* r, int sc, string why)
    {
        Log.Info($"nvmf: connect refused: {why}");
        Complete(r, Status(NvmeSpec.SctCommandSpecific, sc));
    }

    private static string Nqn(ReadOnlySpan<byte> field)
    {
        int end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    private void PropertyGet(NvmfRequest* r)
    {
        bool eight = (r->Cmd.Cdw10 & 7) == 1;
        NvmfController c = _controller!;
        ulong value;
        switch (r->Cmd.Cdw11)
        {
            case NvmeSpec.RegCap:
                value = (ulong)(_options.MaxQueueDepth - 1) | 1UL << 16 | (ulong)CapTimeout << 24 | 1UL << 37;
                break;
            case NvmeSpec.RegVs:
                value = NvmfIdentify.Version;
                break;
            case NvmeSpec.RegCc:
                value = c.Cc;
                break;
            case NvmeSpec.RegCsts:
                value = c.Csts;
                break;
            default:
                Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
                return;
        }
        if (!eight)
        {
            value &= 0xFFFFFFFF;
        }
        Complete(r, 0, (uint)value, dw1: (uint)(value >> 32));
    }

    private void PropertySet(NvmfRequest* r)
    {
        if (r->Cmd.Cdw11 != NvmeSpec.RegCc)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
            return;
        }
        if (!_controller!.SetCc(r->Cmd.Cdw12))
        {
            Log.Info($"nvmf: {Describe()}: CC 0x{r->Cmd.Cdw12:x8} asks for queue entry sizes other than 64/16 bytes");
        }
        Complete(r, 0);
    }
}
