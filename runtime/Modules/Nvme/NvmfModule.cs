using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;

namespace NativeBdev.Modules.Nvme;

/// <summary>nvmf://HOST[:PORT]/SUBNQN and nvmf+tcp://... — namespaces of a remote NVMe/TCP
/// controller (Mayastor's nvmf URIs, SPDK's bdev_nvme_attach_controller -t tcp), through
/// the same transport-neutral controller and namespace bdevs as pcie://. Parameters:
/// hostnqn, hostid (UUID), hdgst, ddgst, num_io_queues, io_queue_depth, keep_alive_ms,
/// reconnect_delay_ms, ctrlr_loss_timeout_s, fast_io_fail_timeout_s, timeout_ms (per
/// command), nsid, name. Without nsid every active namespace becomes a bdev
/// named HOST:PORT/SUBNQNnNSID; the names come back comma-separated.</summary>
internal sealed class NvmfModule : IBdevModule
{
    public const int DefaultPort = 4420;

    public string Name => "nvmf";
    public ReadOnlySpan<string> Schemes => new[] { "nvmf", "nvmf+tcp" };
    public bool TakesHost => true;

    public bool CreationWaits => true;
    public unsafe int IoContextSize => sizeof(NvmeRequest);

    private const string Known =
        "hostnqn, hostid, hdgst, ddgst, num_io_queues, io_queue_depth, keep_alive_ms, reconnect_delay_ms, " +
        "ctrlr_loss_timeout_s, fast_io_fail_timeout_s, timeout_ms, nsid, name, ctrlr_name";

    /// <summary>One bdev_nvme_attach_controller per attached controller, as SPDK writes it.</summary>
    public void WriteConfig(System.Text.Json.Utf8JsonWriter writer)
    {
        var seen = new System.Collections.Generic.HashSet<string>();
        foreach (Bdev.Bdev b in BdevRegistry.Snapshot())
        {
            if (b is NvmeBdev n && n.Controller.Transport is NvmeTcpTransport t && seen.Add(n.Controller.Address))
            {
                NvmeTcpOptions o = t.Options;
                BdevConfig.Entry(writer, "bdev_nvme_attach_controller", w =>
                {
                    w.WriteString("name", n.ControllerName ?? n.Controller.Address);
                    w.WriteString("trtype", "TCP");
                    w.WriteString("adrfam", o.Endpoint.Family == SocketAbi.AF_INET6 ? "IPv6" : "IPv4");
                    string ep = o.Endpoint.Text;
                    int colon = ep.LastIndexOf(':');
                    w.WriteString("traddr", ep[..colon].Trim('[', ']'));
                    w.WriteString("trsvcid", ep[(colon + 1)..]);
                    w.WriteString("subnqn", o.SubNqn);
                    w.WriteString("hostnqn", o.HostNqn);
                    w.WriteBoolean("hdgst", o.HeaderDigest);
                    w.WriteBoolean("ddgst", o.DataDigest);
                });
            }
        }
    }

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        int rc = Parse(uri, out NvmeTcpOptions? o, out uint nsid, out string? wanted, out ulong timeoutMs);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = NvmeController.Attach(o!.Address, "tcp", (long)timeoutMs,
                () => (0, new NvmeTcpTransport(o)), out NvmeController? ctrl)) != 0)
        {
            return rc;
        }
        if (ctrl!.Transport is NvmeTcpTransport t && (t.Options.HostNqn != o.HostNqn ||
                t.Options.HeaderDigest != o.HeaderDigest || t.Options.DataDigest != o.DataDigest))
        {
            ctrl.Release();
            return LastError.Set(Errno.EBUSY, $"NVMe/TCP controller {o.Address} is attached already with other " +
                "options (hostnqn, digests): detach its bdevs first");
        }
        return NvmeModule.NamespaceBdevs(ctrl, nsid, wanted, out name, uri.Get("ctrlr_name"));
    }

    /// <summary>The URI's address, subsystem and parameters, each checked with a message
    /// that names it.</summary>
    internal static int Parse(BdevUri uri, out NvmeTcpOptions? options, out uint nsid, out string? wanted,
        out ulong timeoutMs)
    {
        options = null;
        nsid = 0;
        wanted = null;
        timeoutMs = NvmeModule.DefaultTimeoutMs;
        const string form = "expected nvmf://HOST[:PORT]/SUBNQN, e.g. nvmf://127.0.0.1:4420/nqn.2016-06.io.spdk:cnode1";
        if (uri.Host.Length == 0)
        {
            return LastError.Set(Errno.EINVAL, $"'{uri.Text}' names no host: {form}");
        }
        string subnqn = uri.Name;
        if (subnqn.Length == 0 || subnqn.Contains('/'))
        {
            return LastError.Set(Errno.EINVAL, $"'{uri.Text}': the path is one subsystem NQN: {form}");
        }
        if (!NvmeFabrics.IsValidNqn(subnqn, out string why))
        {
            return LastError.Set(Errno.EINVAL, $"subsystem NQN '{subnqn}' is not valid: {why}");
        }
        string host = uri.Host;
        bool hasPort = host.StartsWith('[') ? host.Contains("]:", StringComparison.Ordinal) : host.Contains(':');
        int rc = NetEndpoint.TryParse(hasPort ? host : $"{host}:{DefaultPort}", out NetEndpoint? endpoint);
        if (rc != 0)
        {
            return rc;
        }
        if (endpoint!.Family == SocketAbi.AF_UNIX)
        {
            return LastError.Set(Errno.EINVAL, $"'{host}' is not a TCP address: {form}");
        }
        var o = new NvmeTcpOptions { Endpoint = endpoint, SubNqn = subnqn };
        string? hostnqn = uri.Get("hostnqn");
        if (hostnqn != null && !NvmeFabrics.IsValidNqn(hostnqn, out why))
        {
            return LastError.Set(Errno.EINVAL, $"hostnqn='{hostnqn}' is not valid: {why}");
        }
        string? hostid = uri.Get("hostid");
        if (hostid != null)
        {
            if (!Guid.TryParseExact(hostid, "D", out Guid id))
            {
                return LastError.Set(Errno.EINVAL, $"hostid='{hostid}' is not a UUID (8-4-4-4-12 hex digits)");
            }
            o.HostId = id;
        }
        o.HostNqn = hostnqn ?? (hostid != null ? "nqn.2014-08.org.nvmexpress:uuid:" + o.HostId : o.HostNqn);
        ulong queues = (ulong)o.MaxIoQueues, depth = (ulong)o.IoQueueDepth, kato = o.KeepAliveMs, ns = 0;
        ulong delay = (ulong)o.ReconnectDelayMs, loss = 0, fastFail = 0;
        if ((rc = uri.GetBool("hdgst", ref o.HeaderDigest)) != 0 ||
            (rc = uri.GetBool("ddgst", ref o.DataDigest)) != 0 ||
            (rc = uri.GetU64("num_io_queues", ref queues, 1, 64)) != 0 ||
            (rc = uri.GetU64("io_queue_depth", ref depth, 2, NvmeController.MaxIoQueueEntries - 1)) != 0 ||
            (rc = uri.GetU64("keep_alive_ms", ref kato, 0, 3_600_000)) != 0 ||
            (rc = uri.GetU64("timeout_ms", ref timeoutMs, 0, 3_600_000)) != 0 ||
            (rc = uri.GetU64("nsid", ref ns, 1, 0xFFFFFFFE)) != 0 ||
            (rc = uri.GetU64("reconnect_delay_ms", ref delay, 1, 3_600_000)) != 0 ||
            (rc = uri.GetU64("ctrlr_loss_timeout_s", ref loss, 0, 86_400)) != 0 ||
            (rc = uri.GetU64("fast_io_fail_timeout_s", ref fastFail, 0, 86_400)) != 0)
        {
            return rc;
        }
        o.MaxIoQueues = (int)queues;
        o.IoQueueDepth = (int)depth;
        o.KeepAliveMs = (uint)kato;
        o.ReconnectDelayMs = (int)delay;
        o.CtrlrLossTimeoutMs = (int)loss * 1000;
        o.FastIoFailTimeoutMs = (int)fastFail * 1000;
        if (o.FastIoFailTimeoutMs > 0 && o.CtrlrLossTimeoutMs > 0 && o.FastIoFailTimeoutMs > o.CtrlrLossTimeoutMs)
        {
            return LastError.Set(Errno.EINVAL, "fast_io_fail_timeout_s must not exceed ctrlr_loss_timeout_s");
        }
        nsid = (uint)ns;
        wanted = uri.Get("name");
        if (uri.Get("ctrlr_name") is { Length: 0 })
        {
            return LastError.Set(Errno.EINVAL, "ctrlr_name= is empty: it names the controller, its bdevs NAMEnNSID");
        }
        if ((rc = uri.CheckAllUsed(Known)) != 0)
        {
            return rc;
        }
        if (wanted != null && (nsid == 0 || (rc = BdevRegistry.CheckName(wanted)) != 0))
        {
            return rc != 0 ? rc : LastError.Set(Errno.EINVAL,
                "name= needs nsid= (nvmf://HOST:PORT/NQN?nsid=1&name=...): a controller has one bdev per namespace");
        }
        options = o;
        return 0;
    }
}
