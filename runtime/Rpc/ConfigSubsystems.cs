using System;
using System.Collections.Generic;
using System.Text.Json;
using NativeBdev.Bdev;

namespace NativeBdev.Rpc;

/// <summary>The subsystems whose config this runtime writes (framework_get_subsystems,
/// framework_get_config, save_config), each with SPDK's name and dependencies and the
/// function that writes its config entries. bdev is always there; front ends (NBD, the
/// NVMe-oF target) add theirs when they are built in.</summary>
internal static class ConfigSubsystems
{
    internal readonly record struct Subsystem(string Name, string[] DependsOn, Action<Utf8JsonWriter> WriteConfig);

    private static readonly object s_lock = new();
    private static readonly List<Subsystem> s_all =
    [
        new("bdev", [], BdevModules.WriteConfig),
        new("nbd", ["bdev"], Nbd.NbdConfig.Write),
        new("nvmf", ["bdev"], Targets.Nvmf.NvmfConfig.Write),
    ];

    public static void Add(string name, string[] dependsOn, Action<Utf8JsonWriter> writeConfig)
    {
        lock (s_lock)
        {
            if (s_all.Exists(s => s.Name == name))
            {
                throw new InvalidOperationException($"config subsystem '{name}' is added twice");
            }
            s_all.Add(new Subsystem(name, dependsOn, writeConfig));
        }
    }

    public static Subsystem[] Snapshot()
    {
        lock (s_lock)
        {
            return s_all.ToArray();
        }
    }

    /// <summary>The whole config as SPDK's save_config writes it (indent 2): every subsystem
    /// with its entries, which <see cref="JsonConfigLoader"/> loads back.</summary>
    public static byte[] Save()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("subsystems");
            foreach (Subsystem s in Snapshot())
            {
                w.WriteStartObject();
                w.WriteString("subsystem", s.Name);
                w.WritePropertyName("config");
                s.WriteConfig(w);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
