using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using static NativeBdev.Rpc.RpcParam;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Rpc.Methods;

/// <summary>bdev_nvme_attach_controller, bdev_nvme_detach_controller and
/// bdev_nvme_get_controllers (SPDK's bdev_nvme_rpc.c) over the pcie:// and nvmf:// factories:
/// a controller named NAME gives bdevs NAMEnNSID, as SPDK names them. Options of SPDK's that
/// change nothing at their defaults are accepted at them and refused by name otherwise.</summary>
internal static class NvmeMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_nvme_attach_controller",
        [
            Req("name", RpcParamKind.String), Req("trtype", RpcParamKind.String), Req("traddr", RpcParamKind.String),
            Opt("adrfam", RpcParamKind.String), Opt("trsvcid", RpcParamKind.String), Opt("subnqn", RpcParamKind.String),
            Opt("hostnqn", RpcParamKind.String), Opt("hostaddr", RpcParamKind.String),
            Opt("hostsvcid", RpcParamKind.String), Opt("prchk_reftag", RpcParamKind.Bool),
            Opt("prchk_guard", RpcParamKind.Bool), Opt("hdgst", RpcParamKind.Bool), Opt("ddgst", RpcParamKind.Bool),
            Opt("fabrics_connect_timeout_us", RpcParamKind.UInt64), Opt("multipath", RpcParamKind.String),
            Opt("num_io_queues", RpcParamKind.UInt32), Opt("ctrlr_loss_timeout_sec", RpcParamKind.Int64),
            Opt("reconnect_delay_sec", RpcParamKind.UInt32), Opt("fast_io_fail_timeout_sec", RpcParamKind.UInt32),
            Opt("allow_unrecognized_csi", RpcParamKind.Bool), Opt("psk", RpcParamKind.String),
        ], Attach));
        server.Register(new RpcMethod("bdev_nvme_detach_controller",
            [Req("name", RpcParamKind.String), Opt("trtype", RpcParamKind.String), Opt("traddr", RpcParamKind.String),
             Opt("adrfam", RpcParamKind.String), Opt("trsvcid", RpcParamKind.String),
             Opt("subnqn", RpcParamKind.String)], Detach));
        server.Register(new RpcMethod("bdev_nvme_get_controllers", [Opt("name", RpcParamKind.String)],
            GetControllers));
    }

    private static void Attach(RpcCall call, RpcParams args)
    {
        string name = args.String("name")!, trtype = args.String("trtype")!.ToUpperInvariant();
        string traddr = args.String("traddr")!;
        string? unsupported =
            args.Bool("prchk_reftag") ? "prchk_reftag" :
            args.Bool("prchk_guard") ? "prchk_guard" :
            args.String("psk") != null ? "psk" :
            args.String("hostaddr") is { Length: > 0 } ? "hostaddr" :
            args.String("hostsvcid") is { Length: > 0 } ? "hostsvcid" :
            args.String("multipath") is { } m && m != "disable" ? "multipath" : null;
        if (unsupported != null)
        {
            call.Error(RpcError.InvalidParams,
                $"{RpcError.InvalidParamsMessage}: '{unsupported}' is not supported by this NVMe driver");
            return;
        }
        if (ControllerBdevs(name).Count > 0)
        {
            call.Error(-Errno.EEXIST, $"A controller named {name} already exists");
            return;
        }
        var uri = new StringBuilder();
        if (trtype == "PCIE")
        {
            uri.Append("pcie:///").Append(traddr).Append('?');
        }
        else if (trtype == "TCP")
        {
            string family = (args.String("adrfam") ?? "ipv4").ToLowerInvariant();
            if (family is not ("ipv4" or "ipv6"))
            {
                call.Error(RpcError.InvalidParams, $"{RpcError.InvalidParamsMessage}: 'adrfam' {family} is not " +
                    "ipv4 or ipv6 (the TCP transport's)");
                return;
            }
            string? subnqn = args.String("subnqn");
            if (subnqn == null)
            {
                call.Error(RpcError.InvalidParams, $"{RpcError.InvalidParamsMessage}: a TCP controller needs 'subnqn'");
                return;
            }
            string host = family == "ipv6" ? $"[{traddr}]" : traddr;
            uri.Append("nvmf://").Append(host).Append(':').Append(args.String("trsvcid") ?? "4420").Append('/')
                .Append(BdevRpc.Q(subnqn)).Append('?');
            if (args.String("hostnqn") is { } hostnqn)
            {
                uri.Append("hostnqn=").Append(BdevRpc.Q(hostnqn)).Append('&');
            }
            if (args.Bool("hdgst"))
            {
                uri.Append("hdgst=1&");
            }
            if (args.Bool("ddgst"))
            {
                uri.Append("ddgst=1&");
            }
            if (args.UInt32("num_io_queues") is var q and > 0)
            {
                uri.Append(CultureInfo.InvariantCulture, $"num_io_queues={q}&");
            }
            if (args.Has("ctrlr_loss_timeout_sec"))
            {
                long loss = args.Int64("ctrlr_loss_timeout_sec");
                // SPDK's -1: retry for ever, which a day of retrying stands for here.
                uri.Append(CultureInfo.InvariantCulture, $"ctrlr_loss_timeout_s={(loss < 0 ? 86_400 : loss)}&");
            }
            if (args.UInt32("reconnect_delay_sec") is var d and > 0)
            {
                uri.Append(CultureInfo.InvariantCulture, $"reconnect_delay_ms={(ulong)d * 1000}&");
            }
            if (args.UInt32("fast_io_fail_timeout_sec") is var f and > 0)
            {
                uri.Append(CultureInfo.InvariantCulture, $"fast_io_fail_timeout_s={f}&");
            }
            if (args.UInt64("fabrics_connect_timeout_us") is var c and > 0)
            {
                uri.Append(CultureInfo.InvariantCulture, $"timeout_ms={Math.Max(1, c / 1000)}&");
            }
        }
        else
        {
            call.Error(RpcError.InvalidParams,
                $"{RpcError.InvalidParamsMessage}: 'trtype' {args.String("trtype")} is not PCIe or TCP");
            return;
        }
        uri.Append("ctrlr_name=").Append(BdevRpc.Q(name));
        BdevRpc.Create(call, uri.ToString(), created => call.Result(w =>
        {
            w.WriteStartArray();
            foreach (string b in created.Split(','))
            {
                w.WriteStringValue(b);
            }
            w.WriteEndArray();
        }));
    }

    /// <summary>The namespace bdevs of the controller SPDK calls <paramref name="name"/>.</summary>
    private static List<(BlockDevice Bdev, NvmeControllerSnapshot Controller)> ControllerBdevs(string? name)
    {
        var found = new List<(BlockDevice, NvmeControllerSnapshot)>();
        foreach (BlockDevice b in BdevRegistry.Snapshot())
        {
            if (b is INvmeNamespaceBdev n && n.DescribeController() is var c &&
                (name == null || c.ControllerName == name))
            {
                found.Add((b, c));
            }
        }
        return found;
    }

    private static void Detach(RpcCall call, RpcParams args)
    {
        List<(BlockDevice Bdev, NvmeControllerSnapshot Controller)> bdevs = ControllerBdevs(args.String("name"));
        if (bdevs.Count == 0)
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        Action<int> done = BdevRpc.AfterAll(call, bdevs.Count);
        foreach ((BlockDevice b, _) in bdevs)
        {
            int rc = BdevRegistry.Destroy(b.Name, done);
            if (rc != 0)
            {
                done(rc);
            }
        }
    }

    /// <summary>SPDK's shape: one entry per controller name, each with its controllers (one
    /// path here: no multipath) and their transport ids.</summary>
    private static void GetControllers(RpcCall call, RpcParams args)
    {
        string? only = args.String("name");
        List<(BlockDevice Bdev, NvmeControllerSnapshot Controller)> bdevs = ControllerBdevs(only);
        if (only != null && bdevs.Count == 0)
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        call.Result(w =>
        {
            w.WriteStartArray();
            foreach ((_, NvmeControllerSnapshot c) in bdevs)
            {
                if (!seen.Add(c.ControllerName))
                {
                    continue;
                }
                w.WriteStartObject();
                w.WriteString("name", c.ControllerName);
                w.WriteStartArray("ctrlrs");
                w.WriteStartObject();
                w.WriteString("state", c.State == "ready" ? "enabled" : c.State);
                w.WriteStartObject("trid");
                w.WriteString("trtype", c.Trid.TrType);
                if (c.Trid.TrType == "TCP")
                {
                    w.WriteString("adrfam", c.Trid.AdrFam);
                }
                w.WriteString("traddr", c.Trid.TrAddr);
                if (c.Trid.TrType == "TCP")
                {
                    w.WriteString("trsvcid", c.Trid.TrSvcId);
                    w.WriteString("subnqn", c.Trid.SubNqn);
                }
                w.WriteEndObject();
                w.WriteNumber("cntlid", c.ControllerId);
                w.WriteStartObject("host");
                w.WriteString("nqn", c.Trid.HostNqn);
                w.WriteString("addr", "");
                w.WriteString("svcid", "");
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }
}
