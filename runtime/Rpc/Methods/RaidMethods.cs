using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Modules.Nexus;
using NativeBdev.Modules.Raid;
using NativeBdev.Modules.Split;
using static NativeBdev.Rpc.RpcParam;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Rpc.Methods;

/// <summary>SPDK's bdev_raid_rpc.c and vbdev_split_rpc.c: bdev_raid_create/delete/get_bdevs
/// and bdev_split_create/delete over the raid, nexus and split modules' cores. raid1 is a
/// nexus here (a mirror whose children are faulted, retired and rebuilt): bdev_raid_create -r 1
/// makes one over the base bdevs, and bdev_raid_get_bdevs lists it as raid1, online while a
/// child is healthy. raid0 and concat have no superblock and are online from creation, so
/// nothing is listed as configuring.</summary>
internal static class RaidMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_raid_create",
        [
            Req("name", RpcParamKind.String), Opt("strip_size_kb", RpcParamKind.UInt32),
            Req("raid_level", RpcParamKind.String), Req("base_bdevs", RpcParamKind.StringList),
            Opt("uuid", RpcParamKind.Uuid), Opt("superblock", RpcParamKind.Bool),
        ], RaidCreate));
        server.Register(new RpcMethod("bdev_raid_delete", [Req("name", RpcParamKind.String)], RaidDelete));
        server.Register(new RpcMethod("bdev_raid_get_bdevs", [Req("category", RpcParamKind.String)], RaidGetBdevs));
        server.Register(new RpcMethod("bdev_split_create",
        [
            Req("base_bdev", RpcParamKind.String), Req("split_count", RpcParamKind.UInt32),
            Opt("split_size_mb", RpcParamKind.UInt64),
        ], SplitCreate));
        server.Register(new RpcMethod("bdev_split_delete", [Req("base_bdev", RpcParamKind.String)], SplitDelete));
    }

    /// <summary>SPDK's raid_bdev_str_to_level, for the levels built here; case does not matter.</summary>
    private static RaidLevel? ParseLevel(string s) => s.ToLowerInvariant() switch
    {
        "0" or "raid0" => RaidLevel.Raid0,
        "concat" => RaidLevel.Concat,
        _ => null,
    };

    private static void RaidCreate(RpcCall call, RpcParams args)
    {
        string name = args.String("name")!;
        string level = args.String("raid_level")!;
        RaidLevel? parsed = ParseLevel(level);
        bool mirror = level.ToLowerInvariant() is "1" or "raid1";
        string? refused = parsed != null || mirror ? null : $"raid_level '{level}' is not 0, raid0, concat, 1 or raid1";
        if (refused == null && mirror && args.UInt32("strip_size_kb") != 0)
        {
            refused = "raid1 takes no strip_size_kb (SPDK's rule)";
        }
        if (refused == null && args.Bool("superblock"))
        {
            refused = "superblock: raid bdevs here keep no superblock";
        }
        if (refused != null)
        {
            LastError.Set(Errno.EINVAL, refused);
            call.Error(-Errno.EINVAL, $"Failed to create RAID bdev {name}: {refused}");
            return;
        }
        int rc = mirror
            ? NexusModule.Create(name, 0, args.StringList("base_bdevs"), args.Uuid("uuid") ?? Guid.NewGuid())
            : RaidModule.Create(name, parsed!.Value, args.UInt32("strip_size_kb"), args.StringList("base_bdevs"),
                args.Uuid("uuid") ?? Guid.NewGuid());
        if (rc != 0)
        {
            Log.Info($"rpc: bdev_raid_create '{name}': {LastError.Message}");
            call.Error(rc, $"Failed to create RAID bdev {name}: {Libc.StrError(-rc)}");
            return;
        }
        if (mirror && BdevRegistry.Find(name) is NexusBdev made)
        {
            made.SavedAsRaid1 = true; // save_config writes bdev_raid_create -r raid1 for it
        }
        call.Result(true);
    }

    private static void RaidDelete(RpcCall call, RpcParams args) =>
        BdevRpc.Delete(call, args.String("name")!, b => b is RaidBdev or NexusBdev);

    private static void RaidGetBdevs(RpcCall call, RpcParams args)
    {
        string category = args.String("category")!;
        if (category is not ("all" or "online" or "configuring" or "offline"))
        {
            call.Errno(-Errno.EINVAL);
            return;
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            foreach (BlockDevice b in BdevRegistry.Snapshot())
            {
                if (b is RaidBdev { Removing: false } r && category is "all" or "online")
                {
                    WriteRaid(w, r);
                }
                else if (b is NexusBdev { Removing: false } n)
                {
                    List<NexusChild> children = n.Children();
                    bool online = children.Exists(c => c.Healthy);
                    if (category == "all" || category == (online ? "online" : "offline"))
                    {
                        WriteMirror(w, n, children, online);
                    }
                }
            }
            w.WriteEndArray();
        });
    }

    /// <summary>SPDK's raid_bdev_write_info_json, after the name.</summary>
    private static void WriteRaid(System.Text.Json.Utf8JsonWriter w, RaidBdev r)
    {
        w.WriteStartObject();
        w.WriteString("name", r.Name);
        w.WriteString("uuid", r.Uuid.ToString());
        w.WriteNumber("strip_size_kb", r.StripSizeKb);
        w.WriteString("state", "online");
        w.WriteString("raid_level", RaidBdev.LevelName(r.Level));
        w.WriteBoolean("superblock", false);
        w.WriteNumber("num_base_bdevs", r.Bases.Length);
        w.WriteNumber("num_base_bdevs_discovered", r.Bases.Length);
        w.WriteNumber("num_base_bdevs_operational", r.Bases.Length);
        w.WriteStartArray("base_bdevs_list");
        foreach (BlockDevice b in r.Bases)
        {
            w.WriteStartObject();
            w.WriteString("name", b.Name);
            w.WriteString("uuid", b.Uuid.ToString());
            w.WriteBoolean("is_configured", true);
            w.WriteNumber("data_offset", 0);
            w.WriteNumber("data_size", b.BlockCount);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A nexus as SPDK describes a raid1: its children are the base bdevs, configured
    /// while open, operational while healthy.</summary>
    private static void WriteMirror(System.Text.Json.Utf8JsonWriter w, NexusBdev n, List<NexusChild> children,
        bool online)
    {
        w.WriteStartObject();
        w.WriteString("name", n.Name);
        w.WriteString("uuid", n.Uuid.ToString());
        w.WriteNumber("strip_size_kb", 0);
        w.WriteString("state", online ? "online" : "offline");
        w.WriteString("raid_level", "raid1");
        w.WriteBoolean("superblock", false);
        w.WriteNumber("num_base_bdevs", children.Count);
        w.WriteNumber("num_base_bdevs_discovered", children.FindAll(c => c.State == NexusChildState.Open).Count);
        w.WriteNumber("num_base_bdevs_operational", children.FindAll(c => c.Healthy).Count);
        w.WriteStartArray("base_bdevs_list");
        foreach (NexusChild c in children)
        {
            w.WriteStartObject();
            w.WriteString("name", c.Name);
            w.WriteString("uuid", c.Bdev.Uuid.ToString());
            w.WriteBoolean("is_configured", c.State == NexusChildState.Open);
            w.WriteNumber("data_offset", 0);
            w.WriteNumber("data_size", n.BlockCount);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void SplitCreate(RpcCall call, RpcParams args)
    {
        string baseName = args.String("base_bdev")!;
        uint count = args.UInt32("split_count");
        if (count == 0 || count > SplitModule.MaxSplitCount)
        {
            call.Error(-Errno.EINVAL, $"split_count {count} is not in 1 .. {SplitModule.MaxSplitCount}");
            return;
        }
        int rc = SplitModule.Create(baseName, count, args.UInt64("split_size_mb"), out SplitBase? split);
        if (rc != 0)
        {
            Log.Info($"rpc: bdev_split_create '{baseName}': {LastError.Message}");
            call.Errno(rc);
            return;
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            foreach (SplitPartBdev p in split!.Parts)
            {
                w.WriteStringValue(p.Name);
            }
            w.WriteEndArray();
        });
    }

    /// <summary>SPDK answers -ENOENT for a base that is not split.</summary>
    private static void SplitDelete(RpcCall call, RpcParams args)
    {
        SplitBase? split = SplitBase.Find(args.String("base_bdev")!);
        if (split == null)
        {
            call.Errno(-Errno.ENOENT);
            return;
        }
        split.DestroyParts();
        call.Result(true);
    }
}
