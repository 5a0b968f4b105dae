using System;
using NativeBdev.Nvme;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The admin commands a fabrics controller answers: Identify, Get Log Page, Set and
/// Get Features, Asynchronous Event Request, Keep Alive, Abort. All on the target's thread,
/// at once (an AER waits for its event).</summary>
internal sealed unsafe partial class NvmfConnection
{
    private const ushort ScInvalidLogPage = 0x09;       // command specific
    private const ushort ScAerLimitExceeded = 0x05;     // command specific
    private const uint FeatureVolatileWriteCache = 0x06;
    private const uint FeatureKeepAliveTimer = 0x0F;

    private readonly byte[] _page = new byte[NvmfIdentify.PageBytes];

    private void Admin(NvmfRequest* r)
    {
        NvmfController c = _controller!;
        switch (r->Cmd.Opcode)
        {
            case NvmeSpec.AdminIdentify:
                Identify(r, c);
                return;
            case NvmeSpec.AdminGetLogPage:
                GetLogPage(r, c);
                return;
            case NvmeSpec.AdminSetFeatures:
                SetFeatures(r, c);
                return;
            case NvmeSpec.AdminGetFeatures:
                GetFeatures(r, c);
                return;
            case NvmeSpec.AdminAsyncEventRequest:
                if (!c.QueueAer(r->Index))
                {
                    Complete(r, Status(NvmeSpec.SctCommandSpecific, ScAerLimitExceeded));
                }
                return;
            case NvmeSpec.AdminKeepAlive:
                Complete(r, 0);
                return;
            case NvmeSpec.AdminAbort:
                Complete(r, 0, 1); // bit 0: the command was not aborted
                return;
            default:
                Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidOpcode));
                return;
        }
    }

    private void Identify(NvmfRequest* r, NvmfController c)
    {
        uint cns = r->Cmd.Cdw10 & 0xFF;
        uint nsid = r->Cmd.Nsid;
        NvmfSubsystem s = c.Subsystem;
        Span<byte> page = _page;
        if (cns == NvmeSpec.CnsController)
        {
            NvmfIdentify.Controller(page, c, _options);
        }
        else if (s.IsDiscovery)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
            return;
        }
        else if (cns == NvmeSpec.CnsNamespace || cns == NvmfIdentify.CnsNamespaceDescriptors)
        {
            if (nsid == 0 || nsid > (uint)s.MaxNamespaces)
            {
                Complete(r, Status(NvmeSpec.SctGeneric, ScInvalidNamespace));
                return;
            }
            NvmfNamespace? ns = s.Namespace(nsid);
            if (ns == null)
            {
                // An allocated-but-inactive NSID reads as zeroes (Identify Namespace); it has no descriptors.
                if (cns == NvmfIdentify.CnsNamespaceDescriptors)
                {
                    Complete(r, Status(NvmeSpec.SctGeneric, ScInvalidNamespace));
                    return;
                }
                page.Clear();
            }
            else if (cns == NvmeSpec.CnsNamespace)
            {
                NvmfIdentify.Namespace(page, ns);
            }
            else
            {
                NvmfIdentify.Descriptors(page, ns);
            }
        }
        else if (cns == NvmeSpec.CnsActiveNamespaces)
        {
            if (nsid >= 0xFFFFFFFE)
            {
                Complete(r, Status(NvmeSpec.SctGeneric, ScInvalidNamespace));
                return;
            }
            NvmfIdentify.ActiveNamespaces(page, s, nsid);
        }
        else
        {
            Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
            return;
        }
        ReplyData(r, page);
    }

    /// <summary>Answers with <paramref name="data"/>, cut or zero-filled to the host's buffer.</summary>
    private void ReplyData(NvmfRequest* r, ReadOnlySpan<byte> data)
    {
        if (r->Length == 0)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, ScDataSglLengthInvalid));
            return;
        }
        int n = Math.Min(data.Length, (int)r->Length);
        NvmfBuffers.CopyIn(r, data[..n]);
        uint zero = r->Length - (uint)n;
        for (int i = 0, at = 0; i < r->ChunkCount && zero > 0; i++)
        {
            int len = (int)r->Iov[i].Length;
            int from = Math.Max(0, n - at);
            if (from < len)
            {
                new Span<byte>(r->Iov[i].Base + from, len - from).Clear();
                zero -= (uint)(len - from);
            }
            at += len;
        }
        Complete(r, 0, 0, r->Length);
    }

    private void GetLogPage(NvmfRequest* r, NvmfController c)
    {
        uint lid = r->Cmd.Cdw10 & 0xFF;
        bool retain = (r->Cmd.Cdw10 & (1u << 15)) != 0;
        ulong dwords = ((ulong)(r->Cmd.Cdw11 & 0xFFFF) << 16 | r->Cmd.Cdw10 >> 16) + 1;
        ulong offset = r->Cmd.Cdw12 | (ulong)r->Cmd.Cdw13 << 32;
        ulong length = dwords * 4;
        if (length > r->Length || (offset & 3) != 0)
        {
            ushort sc = length > r->Length ? ScDataSglLengthInvalid : (ushort)NvmeSpec.ScInvalidField;
            Complete(r, Status(NvmeSpec.SctGeneric, sc));
            return;
        }
        byte[] log;
        switch (lid)
        {
            case 0x01: // error information: no errors recorded
                log = new byte[64 * 128];
                break;
            case 0x02: // SMART / health: nothing to report
                log = new byte[512];
                break;
            case 0x03:
                log = new byte[512];
                NvmfIdentify.FirmwareSlots(log);
                break;
            case NvmeSpec.LogChangedNamespaces when !c.Subsystem.IsDiscovery:
                log = new byte[4096];
                c.ReadChangedNamespaces(log, retain);
                break;
            case 0x05:
                log = new byte[4096];
                NvmfIdentify.CommandEffects(log);
                break;
            case 0x70 when c.Subsystem.IsDiscovery:
                log = NvmfDiscoveryLog.Build(_target.Subsystems, c.HostNqn, _target.DiscoveryGeneration);
                break;
            default:
                Complete(r, Status(NvmeSpec.SctCommandSpecific, ScInvalidLogPage));
                return;
        }
        if (offset > (ulong)log.Length)
        {
            Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
            return;
        }
        ReadOnlySpan<byte> window = log.AsSpan((int)offset);
        if ((ulong)window.Length > length)
        {
            window = window[..(int)length];
        }
        ReplyData(r, window);
    }

    private void SetFeatures(NvmfRequest* r, NvmfController c)
    {
        uint fid = r->Cmd.Cdw10 & 0xFF;
        uint v = r->Cmd.Cdw11;
        switch (fid)
        {
            case NvmeSpec.FeatureNumberOfQueues:
                if ((v & 0xFFFF) == 0xFFFF || v >> 16 == 0xFFFF)
                {
                    Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
                    return;
                }
                if (Array.Exists(c.IoQueues, q => q != null))
                {
                    Complete(r, Status(NvmeSpec.SctGeneric, ScCommandSequenceError));
                    return;
                }
                int asked = (int)Math.Max(v & 0xFFFF, v >> 16) + 1;
                c.GrantedIoQueues = Math.Min(asked, c.IoQueues.Length);
                Complete(r, 0, QueuesDw0(c));
                return;
            case FeatureKeepAliveTimer:
                c.KatoMs = v;
                Complete(r, 0);
                return;
            case NvmeSpec.FeatureAsyncEventConfig:
                c.AsyncEventConfig = v;
                Complete(r, 0);
                return;
            case FeatureVolatileWriteCache:
                c.WriteCache = (v & 1) != 0;
                Complete(r, 0);
                return;
            default:
                Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
                return;
        }
    }

    private void GetFeatures(NvmfRequest* r, NvmfController c)
    {
        switch (r->Cmd.Cdw10 & 0xFF)
        {
            case NvmeSpec.FeatureNumberOfQueues:
                Complete(r, 0, QueuesDw0(c));
                return;
            case FeatureKeepAliveTimer:
                Complete(r, 0, c.KatoMs);
                return;
            case NvmeSpec.FeatureAsyncEventConfig:
                Complete(r, 0, c.AsyncEventConfig);
                return;
            case FeatureVolatileWriteCache:
                Complete(r, 0, c.WriteCache ? 1u : 0u);
                return;
            default:
                Complete(r, Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField));
                return;
        }
    }

    private static uint QueuesDw0(NvmfController c) =>
        (uint)(c.GrantedIoQueues - 1) | (uint)(c.GrantedIoQueues - 1) << 16;
}
