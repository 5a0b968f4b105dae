using System;
using System.Text.Json;
using NativeBdev.Bdev;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The nvmf subsystem's config entries, as SPDK's save_config writes them: the
/// transport, then each subsystem with its listeners, hosts and namespaces — the calls that
/// re-create the target.</summary>
internal static class NvmfConfig
{
    public static void Write(Utf8JsonWriter writer)
    {
        writer.WriteStartArray();
        NvmfTarget? t = NvmfService.Current;
        if (t != null && t.TransportCreated)
        {
            NvmfTransportOptions o = t.Options;
            BdevConfig.Entry(writer, "nvmf_create_transport", w =>
            {
                w.WriteString("trtype", "TCP");
                w.WriteNumber("max_queue_depth", o.MaxQueueDepth);
                w.WriteNumber("max_io_qpairs_per_ctrlr", o.MaxQpairsPerController - 1);
                w.WriteNumber("in_capsule_data_size", o.InCapsuleDataSize);
                w.WriteNumber("max_io_size", o.MaxIoSize);
                w.WriteNumber("io_unit_size", o.ChunkBytes);
                w.WriteNumber("max_aq_depth", o.MaxAdminQueueDepth);
                w.WriteBoolean("c2h_success", o.C2HSuccess);
            });
        }
        if (t != null)
        {
            foreach (NvmfSubsystem s in t.Subsystems)
            {
                if (!s.IsDiscovery)
                {
                    WriteSubsystem(writer, s);
                }
            }
        }
        writer.WriteEndArray();
    }

    private static void WriteSubsystem(Utf8JsonWriter writer, NvmfSubsystem s)
    {
        BdevConfig.Entry(writer, "nvmf_create_subsystem", w =>
        {
            w.WriteString("nqn", s.Nqn);
            w.WriteBoolean("allow_any_host", s.AllowAnyHost);
            w.WriteString("serial_number", s.Serial);
            w.WriteString("model_number", s.Model);
            w.WriteNumber("max_namespaces", s.MaxNamespaces);
            w.WriteNumber("min_cntlid", s.MinCntlid);
            w.WriteNumber("max_cntlid", s.MaxCntlid);
        });
        foreach (NvmfListenAddress a in s.Listeners)
        {
            BdevConfig.Entry(writer, "nvmf_subsystem_add_listener", w =>
            {
                w.WriteString("nqn", s.Nqn);
                w.WriteStartObject("listen_address");
                w.WriteString("trtype", "TCP");
                w.WriteString("adrfam", a.Family);
                w.WriteString("traddr", a.Address);
                w.WriteString("trsvcid", a.Service);
                w.WriteEndObject();
            });
        }
        foreach (string h in s.Hosts)
        {
            BdevConfig.Entry(writer, "nvmf_subsystem_add_host", w =>
            {
                w.WriteString("nqn", s.Nqn);
                w.WriteString("host", h);
            });
        }
        foreach (NvmfNamespace ns in s.Namespaces)
        {
            BdevConfig.Entry(writer, "nvmf_subsystem_add_ns", w =>
            {
                w.WriteString("nqn", s.Nqn);
                w.WriteStartObject("namespace");
                w.WriteNumber("nsid", ns.Nsid);
                w.WriteString("bdev_name", ns.Bdev.Name);
                w.WriteString("nguid", Convert.ToHexString(ns.Nguid));
                w.WriteString("uuid", ns.Uuid.ToString());
                if (ns.Eui64 != 0)
                {
                    w.WriteString("eui64", ns.Eui64.ToString("X16"));
                }
                w.WriteEndObject();
            });
        }
    }
}
