using System.Text.Json;
using NativeBdev.Abi;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Modules.Error;
using NativeBdev.Modules.Nexus;
using NativeBdev.Nvme;

namespace NativeBdev.Tests.Abi;

/// <summary>The public header and its C# mirrors agree on every struct's size, field offsets,
/// field sizes and field count, and on every enum and macro value, in both directions. The header
/// side is libclang's reading of include/nativebdev.h (tests/abi/dump_header_layout.py), so a
/// field added, moved, resized or renumbered on one side only fails here, naming it.</summary>
public class HeaderLayoutTests
{
    private static readonly StructMirror[] s_structs =
    [
        new("nb_env_opts", typeof(NbEnvOpts)),
        new("nb_env_info", typeof(NbEnvInfo)),
        new("nb_bdev_info", typeof(NbBdevInfo)),
        new("nb_bdev_io_request", typeof(NbBdevIoRequest), "",
            ("iovcnt", "IovCount"), ("cb", "Callback"), ("cb_arg", "CallbackArg")),
        new("nb_bdev_io_wait_entry", typeof(NbBdevIoWaitEntry)),
        new("nb_bdev_io_stat", typeof(NbBdevIoStat)),
        new("nb_bdev_media_event", typeof(NbBdevMediaEvent)),
        new("nb_fault_rule_info", typeof(NbFaultRuleInfo)),
        new("nb_crypto_key_info", typeof(NbCryptoKeyInfo)),
        new("nb_bdev_health", typeof(NbBdevHealth)),
        new("nb_nvme_cmd", typeof(NvmeCommand), "",
            ("opc", "Opcode"), ("fuse_psdt", "Flags"), ("rsvd2", "Cdw2"), ("rsvd3", "Cdw3")),
        new("nb_nvme_probe_info", typeof(NbNvmeProbeInfo)),
        new("nb_nvme_ctrlr_info", typeof(NbNvmeCtrlrInfo)),
        new("nb_nexus_child_info", typeof(NbNexusChildInfo)),
        new("nb_nvmf_target_opts", typeof(NbNvmfTargetOpts)),
        new("nb_nexus_rebuild_record", typeof(NbNexusRebuildRecord)),
        new("nb_nbd_disk_info", typeof(NbNbdDiskInfo)),
    ];

    /// <summary>Header structs with no C# mirror, each with the reason. Empty today: every
    /// struct the header defines crosses the ABI.</summary>
    private static readonly Dictionary<string, string> s_headerOnlyStructs = new();

    private static readonly EnumMirror[] s_enums =
    [
        new("nb_log_level", typeof(LogLevel), "NB_LOG_", []),
        new("nb_iova_mode", typeof(IovaMode), "NB_IOVA_", []),
        new("nb_bdev_io_type", typeof(BdevIoType), "NB_BDEV_IO_TYPE_", ["Invalid", "Count"]),
        new("nb_bdev_event_type", typeof(BdevEventType), "NB_BDEV_EVENT_", []),
        new("nb_bdev_error_type", typeof(ErrorModule), "NB_BDEV_ERROR_", [], ("NB_BDEV_ERROR_NOMEM", "NoMemory")),
        new("nb_nexus_child_state", typeof(NexusChildState), "NB_NEXUS_CHILD_", []),
        new("nb_nexus_fault_reason", typeof(NexusFaultReason), "NB_NEXUS_FAULT_", []),
        new("nb_nexus_rebuild_state", typeof(NexusRebuildState), "NB_NEXUS_REBUILD_", []),
    ];

    private static readonly Dictionary<string, string> s_headerOnlyEnums = new()
    {
        ["nb_hugepages_mode"] = "EnvExports.Init maps 0/1/2 inline onto EnvOptions.HugePages (-1/1/0)",
    };

    private static readonly (string Macro, Type Managed, string Member)[] s_macros =
    [
        ("NB_VERSION_STRING", typeof(BaseExports), nameof(BaseExports.Version)),
    ];

    private static readonly Dictionary<string, string> s_headerOnlyMacros = new()
    {
        ["NB_VERSION_MAJOR"] = "C# keeps the string only; NB_VERSION_STRING is checked to be MAJOR.MINOR.PATCH",
        ["NB_VERSION_MINOR"] = "as NB_VERSION_MAJOR",
        ["NB_VERSION_PATCH"] = "as NB_VERSION_MAJOR",
        ["NB_BDEV_NAME_MAX"] = "an array length: checked as the size of nb_bdev_info.name and nb_fault_rule_info.bdev",
        ["NB_POLLER_IDLE"] = "the runtime reads a poller's return as busy when > 0 (Poller.cs): nothing to mirror",
        ["NB_POLLER_BUSY"] = "as NB_POLLER_IDLE",
        ["NB_VTOPHYS_ERROR"] = "DmaExports.Vtophys returns the literal ulong.MaxValue; there is no named C# constant",
    };

    private static readonly Lazy<JsonElement> s_header = new(() => JsonDocument.Parse(NativeLayout.Run(
        "/usr/bin/python3", "tests/abi/dump_header_layout.py", "include/nativebdev.h")).RootElement);

    [Test]
    public async Task Every_header_struct_has_a_C_sharp_mirror_with_its_size_and_field_offsets()
    {
        Dictionary<string, NativeStruct> header = NativeLayout.Structs(s_header.Value);
        var problems = new List<string>();
        foreach (StructMirror m in s_structs)
        {
            if (header.TryGetValue(m.Native, out NativeStruct? c))
            {
                problems.AddRange(m.Compare(c));
            }
            else
            {
                problems.Add($"{m.Native}: mirrored by C# {m.Managed.Name} but not defined in the header");
            }
        }
        problems.AddRange(Unlisted(header.Keys, s_structs.Select(m => m.Native), s_headerOnlyStructs, "struct"));
        // The other direction: a C# struct named like a header mirror (Nb*) must mirror one.
        IEnumerable<Type> nbTypes = typeof(NbEnvOpts).Assembly.GetTypes()
            .Where(t => t.IsValueType && t.Namespace == typeof(NbEnvOpts).Namespace && t.Name.StartsWith("Nb"));
        foreach (Type t in nbTypes.Where(t => s_structs.All(m => m.Managed != t)))
        {
            problems.Add($"C# {t.FullName} looks like a header mirror but is in no mapping");
        }

        await Disagreements.Verdict(problems, s_structs.Length);
    }

    [Test]
    public async Task Every_header_enum_constant_has_a_C_sharp_mirror_with_its_value()
    {
        var enums = s_header.Value.GetProperty("enums").EnumerateObject().ToDictionary(e => e.Name,
            e => (IReadOnlyDictionary<string, Int128>)e.Value.EnumerateObject()
                .ToDictionary(k => k.Name, k => NativeLayout.Integer(k.Value)));
        var problems = new List<string>();
        foreach (EnumMirror m in s_enums)
        {
            if (enums.TryGetValue(m.Native, out IReadOnlyDictionary<string, Int128>? constants))
            {
                problems.AddRange(m.Compare(constants));
            }
            else
            {
                problems.Add($"enum {m.Native}: mirrored by C# {m.Managed.Name} but not defined in the header");
            }
        }
        problems.AddRange(Unlisted(enums.Keys, s_enums.Select(m => m.Native), s_headerOnlyEnums, "enum"));

        await Disagreements.Verdict(problems, s_enums.Length);
    }

    [Test]
    public async Task Every_header_macro_has_a_C_sharp_mirror_with_its_value()
    {
        var macros = s_header.Value.GetProperty("macros").EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        var problems = new List<string>();
        foreach ((string macro, Type type, string member) in s_macros)
        {
            object? mine = ManagedLayout.Constant(type, member);
            if (!macros.TryGetValue(macro, out JsonElement value))
            {
                problems.Add($"{macro}: mirrored by C# {type.Name}.{member} but not defined in the header");
            }
            else if (mine == null)
            {
                problems.Add($"{macro}: C# {type.Name}.{member} is not a constant");
            }
            else
            {
                object c = value.ValueKind == JsonValueKind.String ? value.GetString()! : NativeLayout.Integer(value);
                if (!c.Equals(mine))
                {
                    problems.Add($"{macro}: value C {c}, C# {type.Name}.{member} {mine}");
                }
            }
        }
        problems.AddRange(Unlisted(macros.Keys, s_macros.Select(m => m.Macro), s_headerOnlyMacros, "macro"));
        string version = $"{macros["NB_VERSION_MAJOR"]}.{macros["NB_VERSION_MINOR"]}.{macros["NB_VERSION_PATCH"]}";
        if (version != macros["NB_VERSION_STRING"].GetString())
        {
            problems.Add($"NB_VERSION_STRING {macros["NB_VERSION_STRING"]} is not MAJOR.MINOR.PATCH ({version})");
        }

        await Disagreements.Verdict(problems, s_macros.Length);
    }

    /// <summary>Header names neither mirrored nor listed as header-only, and header-only entries
    /// the header no longer has (a stale excuse hides nothing but misleads).</summary>
    private static IEnumerable<string> Unlisted(IEnumerable<string> inHeader, IEnumerable<string> mirrored,
        Dictionary<string, string> headerOnly, string what)
    {
        var names = inHeader.ToHashSet();
        foreach (string n in names.Except(mirrored).Where(n => !headerOnly.ContainsKey(n)))
        {
            yield return $"{what} {n}: in the header, no C# mirror and not listed as header-only";
        }
        foreach (string n in headerOnly.Keys.Where(n => !names.Contains(n)))
        {
            yield return $"{what} {n}: listed as header-only but not in the header";
        }
    }
}
