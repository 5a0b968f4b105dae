using System;
using System.Text.Json;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Targets.Nvmf;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>SPDK's nvmf_rpc.c for the TCP transport, thin over <see cref="NvmfTarget"/>: the
/// target runs on the RPC server's thread (started by nvmf_create_transport, or with the
/// transport's defaults by the first nvmf_create_subsystem, as SPDK has a target before any
/// transport). Parameters are SPDK's; those of other transports (RDMA, PCIe) and features not
/// built here (ANA, TLS, DH-HMAC-CHAP) are accepted when they ask for nothing and refused
/// when they ask for something.</summary>
internal static class NvmfMethods
{
    private static readonly RpcParam[] s_listenAddress =
    [
        Req("trtype", RpcParamKind.String), Opt("adrfam", RpcParamKind.String), Req("traddr", RpcParamKind.String),
        Opt("trsvcid", RpcParamKind.String), Opt("priority", RpcParamKind.UInt32),
    ];

    private static readonly RpcParam[] s_namespace =
    [
        Req("bdev_name", RpcParamKind.String), Opt("nsid", RpcParamKind.UInt32), Opt("uuid", RpcParamKind.Uuid),
        Opt("nguid", RpcParamKind.String), Opt("eui64", RpcParamKind.String), Opt("ptpl_file", RpcParamKind.String),
        Opt("anagrpid", RpcParamKind.UInt32), Opt("no_auto_visible", RpcParamKind.Bool),
        Opt("hide_metadata", RpcParamKind.Bool),
    ];

    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("nvmf_create_transport",
        [
            Req("trtype", RpcParamKind.String), Opt("tgt_name", RpcParamKind.String),
            Opt("max_queue_depth", RpcParamKind.UInt32), Opt("max_qpairs_per_ctrlr", RpcParamKind.UInt32),
            Opt("max_io_qpairs_per_ctrlr", RpcParamKind.UInt32), Opt("in_capsule_data_size", RpcParamKind.UInt32),
            Opt("max_io_size", RpcParamKind.UInt32), Opt("io_unit_size", RpcParamKind.UInt32),
            Opt("max_aq_depth", RpcParamKind.UInt32), Opt("num_shared_buffers", RpcParamKind.UInt32),
            Opt("buf_cache_size", RpcParamKind.UInt32), Opt("c2h_success", RpcParamKind.Bool),
            Opt("dif_insert_or_strip", RpcParamKind.Bool), Opt("sock_priority", RpcParamKind.UInt32),
            Opt("abort_timeout_sec", RpcParamKind.UInt32), Opt("zcopy", RpcParamKind.Bool),
            Opt("no_srq", RpcParamKind.Bool), Opt("no_wr_batching", RpcParamKind.Bool),
            Opt("disable_mappable_bar0", RpcParamKind.Bool), Opt("disable_adaptive_irq", RpcParamKind.Bool),
            Opt("disable_shadow_doorbells", RpcParamKind.Bool), Opt("disable_command_passthru", RpcParamKind.Bool),
            Opt("ack_timeout", RpcParamKind.UInt32), Opt("data_wr_pool_size", RpcParamKind.UInt32),
            Opt("control_msg_num", RpcParamKind.UInt32),
        ], CreateTransport));
        server.Register(new RpcMethod("nvmf_get_transports",
            [Opt("trtype", RpcParamKind.String), Opt("tgt_name", RpcParamKind.String)], GetTransports));
        server.Register(new RpcMethod("nvmf_create_subsystem",
        [
            Req("nqn", RpcParamKind.String), Opt("tgt_name", RpcParamKind.String),
            Opt("serial_number", RpcParamKind.String), Opt("model_number", RpcParamKind.String),
            Opt("allow_any_host", RpcParamKind.Bool), Opt("max_namespaces", RpcParamKind.UInt32),
            Opt("min_cntlid", RpcParamKind.UInt32), Opt("max_cntlid", RpcParamKind.UInt32),
            Opt("ana_reporting", RpcParamKind.Bool), Opt("passthrough", RpcParamKind.Bool),
            Opt("enable_nssr", RpcParamKind.Bool), Opt("max_discard_size_kib", RpcParamKind.UInt64),
            Opt("max_write_zeroes_size_kib", RpcParamKind.UInt64),
        ], CreateSubsystem));
        server.Register(new RpcMethod("nvmf_delete_subsystem",
            [Req("nqn", RpcParamKind.String), Opt("tgt_name", RpcParamKind.String)],
            (call, args) => OnTarget(call, t => t.DeleteSubsystem(args.String("nqn")))));
        server.Register(new RpcMethod("nvmf_subsystem_add_ns",
        [
            Req("nqn", RpcParamKind.String), Req("namespace", RpcParamKind.Object),
            Opt("tgt_name", RpcParamKind.String),
        ], AddNamespace));
        server.Register(new RpcMethod("nvmf_subsystem_remove_ns",
            [Req("nqn", RpcParamKind.String), Req("nsid", RpcParamKind.UInt32), Opt("tgt_name", RpcParamKind.String)],
            (call, args) => OnTarget(call, t => t.RemoveNamespace(args.String("nqn"), args.UInt32("nsid")))));
        RpcParam[] listener =
        [
            Req("nqn", RpcParamKind.String), Req("listen_address", RpcParamKind.Object),
            Opt("tgt_name", RpcParamKind.String), Opt("secure_channel", RpcParamKind.Bool),
            Opt("ana_state", RpcParamKind.String), Opt("sock_impl", RpcParamKind.String),
        ];
        server.Register(new RpcMethod("nvmf_subsystem_add_listener", listener, (c, a) => Listener(c, a, true)));
        server.Register(new RpcMethod("nvmf_subsystem_remove_listener", listener, (c, a) => Listener(c, a, false)));
        RpcParam[] host =
        [
            Req("nqn", RpcParamKind.String), Req("host", RpcParamKind.String), Opt("tgt_name", RpcParamKind.String),
            Opt("psk", RpcParamKind.String), Opt("dhchap_key", RpcParamKind.String),
            Opt("dhchap_ctrlr_key", RpcParamKind.String),
        ];
        server.Register(new RpcMethod("nvmf_subsystem_add_host", host, AddHost));
        server.Register(new RpcMethod("nvmf_subsystem_remove_host",
            [Req("nqn", RpcParamKind.String), Req("host", RpcParamKind.String), Opt("tgt_name", RpcParamKind.String)],
            (call, args) => OnTarget(call, t => t.RemoveHost(args.String("nqn"), args.String("host")))));
        server.Register(new RpcMethod("nvmf_subsystem_allow_any_host",
        [
            Req("nqn", RpcParamKind.String), Req("allow_any_host", RpcParamKind.Bool),
            Opt("tgt_name", RpcParamKind.String),
        ], (call, args) => OnTarget(call, t => t.SetAllowAnyHost(args.String("nqn"), args.Bool("allow_any_host")))));
        server.Register(new RpcMethod("nvmf_get_subsystems",
            [Opt("nqn", RpcParamKind.String), Opt("tgt_name", RpcParamKind.String)], GetSubsystems));
        server.Register(new RpcMethod("nvmf_get_stats", [Opt("tgt_name", RpcParamKind.String)], GetStats));
    }

    /// <summary>SPDK's nvmf_get_stats: per poll group (one per thread the target serves I/O
    /// queues on), the queue pairs it took in all and holds now, and the I/O commands it
    /// completed; plus the thread's name, which SPDK's output does not have.</summary>
    private static void GetStats(RpcCall call, RpcParams args)
    {
        NvmfTarget? t = NvmfService.Current;
        call.Result(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("tick_rate", NativeBdev.Env.Ticks.Hz);
            w.WriteStartArray("poll_groups");
            foreach (NvmfPollGroup g in t?.PollGroups ?? [])
            {
                w.WriteStartObject();
                w.WriteString("name", g.Name);
                w.WriteString("thread", g.Thread.Name);
                w.WriteNumber("admin_qpairs", System.Threading.Volatile.Read(ref g.AdminQpairs));
                w.WriteNumber("io_qpairs", System.Threading.Volatile.Read(ref g.IoQpairs));
                w.WriteNumber("current_admin_qpairs", System.Threading.Volatile.Read(ref g.CurrentAdminQpairs));
                w.WriteNumber("current_io_qpairs", System.Threading.Volatile.Read(ref g.CurrentIoQpairs));
                w.WriteNumber("completed_nvme_io", System.Threading.Volatile.Read(ref g.CompletedIo));
                w.WriteStartArray("transports");
                w.WriteStartObject();
                w.WriteString("trtype", "TCP");
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>The core's refusals are -32602 with its message, as SPDK's nvmf methods answer.</summary>
    private static void Refused(RpcCall call)
    {
        Log.Info($"rpc: {call.Method}: {LastError.Message}");
        call.Error(RpcError.InvalidParams, $"{call.Method}: {LastError.Message}");
    }

    private static void OnTarget(RpcCall call, Func<NvmfTarget, int> action)
    {
        int rc = NvmfService.Get(out NvmfTarget? t);
        if (rc == 0)
        {
            rc = action(t!);
        }
        if (rc < 0)
        {
            Refused(call);
            return;
        }
        call.Result(true);
    }

    private static bool NotTcp(RpcCall call, string? trtype)
    {
        if (string.Equals(trtype, "TCP", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        call.Error(RpcError.InvalidParams, $"Transport type '{trtype}' is not built here (only TCP)");
        return true;
    }

    private static void CreateTransport(RpcCall call, RpcParams args)
    {
        if (NotTcp(call, args.String("trtype")))
        {
            return;
        }
        if (args.Bool("zcopy") || args.Bool("dif_insert_or_strip"))
        {
            call.Error(RpcError.InvalidParams, "zcopy and dif_insert_or_strip are not built here");
            return;
        }
        var d = new NvmfTransportOptions();
        uint ioQpairs = args.UInt32("max_io_qpairs_per_ctrlr", args.Has("max_qpairs_per_ctrlr")
            ? args.UInt32("max_qpairs_per_ctrlr") - 1 : (uint)d.MaxQpairsPerController - 1);
        var o = new NvmfTransportOptions
        {
            MaxQueueDepth = Clamp(args.UInt32("max_queue_depth", (uint)d.MaxQueueDepth)),
            MaxAdminQueueDepth = Clamp(args.UInt32("max_aq_depth", (uint)d.MaxAdminQueueDepth)),
            MaxQpairsPerController = Clamp(ioQpairs + 1UL),
            InCapsuleDataSize = Clamp(args.UInt32("in_capsule_data_size", (uint)d.InCapsuleDataSize)),
            MaxIoSize = Clamp(args.UInt32("max_io_size", (uint)d.MaxIoSize)),
            ChunkBytes = Clamp(Math.Max(args.UInt32("io_unit_size", (uint)d.ChunkBytes), 4096u)),
            C2HSuccess = args.Bool("c2h_success", d.C2HSuccess),
        };
        int rc = NvmfService.CreateTransport(o);
        if (rc != 0)
        {
            Refused(call);
            return;
        }
        call.Result(true);
    }

    private static int Clamp(ulong v) => (int)Math.Min(v, int.MaxValue);

    private static void GetTransports(RpcCall call, RpcParams args)
    {
        NvmfTarget? t = NvmfService.Current;
        string? trtype = args.String("trtype");
        call.Result(w =>
        {
            w.WriteStartArray();
            if (t is { TransportCreated: true } &&
                (trtype == null || trtype.Equals("TCP", StringComparison.OrdinalIgnoreCase)))
            {
                WriteTransport(w, t.Options);
            }
            w.WriteEndArray();
        });
    }

    /// <summary>SPDK's nvmf_tcp_dump_opts, with this target's values (buffers are per
    /// connection here: num_shared_buffers counts one connection's io units).</summary>
    internal static void WriteTransport(Utf8JsonWriter w, NvmfTransportOptions o)
    {
        w.WriteStartObject();
        w.WriteString("trtype", "TCP");
        w.WriteNumber("max_queue_depth", o.MaxQueueDepth);
        w.WriteNumber("max_io_qpairs_per_ctrlr", o.MaxQpairsPerController - 1);
        w.WriteNumber("in_capsule_data_size", o.InCapsuleDataSize);
        w.WriteNumber("max_io_size", o.MaxIoSize);
        w.WriteNumber("io_unit_size", o.ChunkBytes);
        w.WriteNumber("max_aq_depth", o.MaxAdminQueueDepth);
        w.WriteNumber("num_shared_buffers", o.BufferBytes / o.ChunkBytes);
        w.WriteNumber("buf_cache_size", uint.MaxValue);
        w.WriteBoolean("dif_insert_or_strip", false);
        w.WriteBoolean("zcopy", false);
        w.WriteBoolean("c2h_success", o.C2HSuccess);
        w.WriteNumber("sock_priority", 0);
        w.WriteNumber("abort_timeout_sec", 1);
        w.WriteNumber("ack_timeout", 0);
        w.WriteNumber("data_wr_pool_size", 0);
        w.WriteEndObject();
    }

    private static void CreateSubsystem(RpcCall call, RpcParams args)
    {
        if (args.Bool("ana_reporting") || args.Bool("passthrough") || args.Bool("enable_nssr"))
        {
            call.Error(RpcError.InvalidParams, "ana_reporting, passthrough and enable_nssr are not built here");
            return;
        }
        int rc = NvmfService.GetOrStart(out NvmfTarget? t);
        uint min = args.UInt32("min_cntlid", 1), max = args.UInt32("max_cntlid", 0xFFEF);
        if (rc == 0 && (min > ushort.MaxValue || max > ushort.MaxValue))
        {
            rc = LastError.Set(Errno.EINVAL, $"controller id range {min}..{max} (within 1..65519)");
        }
        if (rc == 0)
        {
            rc = t!.CreateSubsystem(args.String("nqn")!, args.String("serial_number"), args.String("model_number"),
                Clamp(args.UInt32("max_namespaces")), (ushort)min, (ushort)max, args.Bool("allow_any_host"));
        }
        if (rc != 0)
        {
            Refused(call);
            return;
        }
        call.Result(true);
    }

    private static void AddNamespace(RpcCall call, RpcParams args)
    {
        RpcParams? ns = args.Object("namespace", s_namespace, out string? error);
        if (ns == null)
        {
            call.Error(RpcError.InvalidParams, error!);
            return;
        }
        if (ns.Has("ptpl_file") || ns.UInt32("anagrpid") > 1 || ns.Bool("no_auto_visible"))
        {
            call.Error(RpcError.InvalidParams, "ptpl_file, ANA groups and no_auto_visible are not built here");
            return;
        }
        byte[]? nguid = null;
        ulong eui64 = 0;
        if (ns.String("nguid") is { } n && !TryHex(n, 16, out nguid))
        {
            call.Error(RpcError.InvalidParams, $"nguid '{n}' is not 32 hexadecimal digits");
            return;
        }
        if (ns.String("eui64") is { } e)
        {
            if (!TryHex(e, 8, out byte[]? eb))
            {
                call.Error(RpcError.InvalidParams, $"eui64 '{e}' is not 16 hexadecimal digits");
                return;
            }
            eui64 = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(eb);
        }
        int rc = NvmfService.Get(out NvmfTarget? t);
        if (rc == 0)
        {
            rc = t!.AddNamespace(args.String("nqn"), ns.String("bdev_name"), ns.UInt32("nsid"),
                ns.Uuid("uuid") ?? Guid.Empty, nguid, eui64);
        }
        if (rc < 0)
        {
            Refused(call);
            return;
        }
        call.Result(w => w.WriteNumberValue(rc));
    }

    /// <summary>Hex digits, with or without dashes (SPDK prints NGUIDs without, accepts both).</summary>
    private static bool TryHex(string s, int bytes, out byte[]? value)
    {
        value = null;
        string digits = s.Replace("-", "");
        if (digits.Length != bytes * 2)
        {
            return false;
        }
        try
        {
            value = Convert.FromHexString(digits);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static void Listener(RpcCall call, RpcParams args, bool add)
    {
        RpcParams? l = args.Object("listen_address", s_listenAddress, out string? error);
        if (l == null)
        {
            call.Error(RpcError.InvalidParams, error!);
            return;
        }
        if (NotTcp(call, l.String("trtype")))
        {
            return;
        }
        if (args.Bool("secure_channel"))
        {
            call.Error(RpcError.InvalidParams, "secure_channel (TLS) is not built here");
            return;
        }
        string? adrfam = l.String("adrfam");
        string traddr = l.String("traddr")!;
        if (adrfam != null && !(adrfam.Equals("ipv4", StringComparison.OrdinalIgnoreCase) && !traddr.Contains(':')) &&
            !(adrfam.Equals("ipv6", StringComparison.OrdinalIgnoreCase) && traddr.Contains(':')))
        {
            call.Error(RpcError.InvalidParams, $"adrfam '{adrfam}' does not fit traddr '{traddr}' (ipv4 or ipv6)");
            return;
        }
        string service = l.String("trsvcid") ?? "4420";
        OnTarget(call, t => add
            ? t.AddListener(args.String("nqn"), traddr, service)
            : t.RemoveListener(args.String("nqn"), traddr, service));
    }

    private static void AddHost(RpcCall call, RpcParams args)
    {
        if (args.Has("psk") || args.Has("dhchap_key") || args.Has("dhchap_ctrlr_key"))
        {
            call.Error(RpcError.InvalidParams, "TLS PSKs and DH-HMAC-CHAP keys are not built here");
            return;
        }
        OnTarget(call, t => t.AddHost(args.String("nqn"), args.String("host")));
    }

    private static void GetSubsystems(RpcCall call, RpcParams args)
    {
        NvmfTarget? t = NvmfService.Current;
        string? only = args.String("nqn");
        if (only != null && t?.Find(only) == null)
        {
            call.Error(RpcError.InvalidParams, $"Unable to find subsystem with NQN {only}");
            return;
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            if (t == null)
            {
                // SPDK's target always has its discovery subsystem.
                WriteDiscovery(w);
            }
            else
            {
                foreach (NvmfSubsystem s in t.Subsystems)
                {
                    if (only == null || s.Nqn == only)
                    {
                        WriteSubsystem(w, s);
                    }
                }
            }
            w.WriteEndArray();
        });
    }

    private static void WriteDiscovery(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("nqn", NvmfSubsystem.DiscoveryNqn);
        w.WriteString("subtype", "Discovery");
        w.WriteStartArray("listen_addresses");
        w.WriteEndArray();
        w.WriteBoolean("allow_any_host", true);
        w.WriteStartArray("hosts");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>SPDK's dump_nvmf_subsystem.</summary>
    internal static void WriteSubsystem(Utf8JsonWriter w, NvmfSubsystem s)
    {
        if (s.IsDiscovery)
        {
            WriteDiscovery(w);
            return;
        }
        w.WriteStartObject();
        w.WriteString("nqn", s.Nqn);
        w.WriteString("subtype", "NVMe");
        w.WriteStartArray("listen_addresses");
        foreach (NvmfListenAddress a in s.Listeners)
        {
            w.WriteStartObject();
            w.WriteString("trtype", "TCP");
            w.WriteString("adrfam", a.Family);
            w.WriteString("traddr", a.Address);
            w.WriteString("trsvcid", a.Service);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteBoolean("allow_any_host", s.AllowAnyHost);
        w.WriteStartArray("hosts");
        foreach (string h in s.Hosts)
        {
            w.WriteStartObject();
            w.WriteString("nqn", h);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("serial_number", s.Serial);
        w.WriteString("model_number", s.Model);
        w.WriteNumber("max_namespaces", s.MaxNamespaces);
        w.WriteNumber("min_cntlid", s.MinCntlid);
        w.WriteNumber("max_cntlid", s.MaxCntlid);
        w.WriteStartArray("namespaces");
        foreach (NvmfNamespace ns in s.Namespaces)
        {
            w.WriteStartObject();
            w.WriteNumber("nsid", ns.Nsid);
            w.WriteString("bdev_name", ns.Bdev.Name);
            w.WriteString("name", ns.Bdev.Name);
            w.WriteString("nguid", Convert.ToHexString(ns.Nguid));
            if (ns.Eui64 != 0)
            {
                w.WriteString("eui64", ns.Eui64.ToString("X16"));
            }
            w.WriteString("uuid", ns.Uuid.ToString());
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
