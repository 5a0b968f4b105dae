using System;
using System.Text.Json;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Modules.Lvol;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>SPDK's lvol RPCs (module/bdev/lvol/vbdev_lvol_rpc.c) over the lvol module. A store is
/// named by lvs_name or uuid; a volume by its alias LVS/NAME (our bdev's name) or its UUID. Each
/// change runs on the server's thread, which must be the store's metadata thread (a store made or
/// imported through this server is).</summary>
internal static class LvolMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_lvol_create_lvstore",
            [Req("bdev_name", RpcParamKind.String), Req("lvs_name", RpcParamKind.String),
             Opt("cluster_sz", RpcParamKind.UInt32), Opt("clear_method", RpcParamKind.String),
             Opt("num_md_pages_per_cluster_ratio", RpcParamKind.UInt32), Opt("md_page_size", RpcParamKind.UInt32)],
            (call, args) =>
            {
                uint cluster = args.UInt32("cluster_sz", (uint)LvolPools.DefaultClusterSize);
                LvolStore? store = null;
                int rc = LvolClear.Parse(args.String("clear_method"), LvolClearMethod.Unmap, out LvolClearMethod clear);
                if (rc == 0)
                {
                    rc = LvolStore.CreateNew(args.String("bdev_name")!, args.String("lvs_name")!, cluster, clear,
                        out store);
                }
                Reply(call, rc, () => call.Result(store!.Uuid));
            }));
        server.Register(new RpcMethod("bdev_lvol_get_lvstores",
            [Opt("uuid", RpcParamKind.String), Opt("lvs_name", RpcParamKind.String)], GetLvstores));
        server.Register(new RpcMethod("bdev_lvol_delete_lvstore",
            [Opt("uuid", RpcParamKind.String), Opt("lvs_name", RpcParamKind.String)], (call, args) =>
            {
                if (Store(call, args) is not { } s)
                {
                    return;
                }
                int rc = s.Unload(destroy: true, status => BdevRpc.Status(call, status));
                if (rc != 0)
                {
                    call.Errno(rc);
                }
            }));
        server.Register(new RpcMethod("bdev_lvol_grow_lvstore",
            [Opt("uuid", RpcParamKind.String), Opt("lvs_name", RpcParamKind.String)], (call, args) =>
            {
                if (Store(call, args) is { } s)
                {
                    BdevRpc.Status(call, s.Grow());
                }
            }));
        server.Register(new RpcMethod("bdev_lvol_rename_lvstore",
            [Req("old_name", RpcParamKind.String), Req("new_name", RpcParamKind.String)], (call, args) =>
            {
                if (LvolStore.Find(args.String("old_name")!) is not { } s)
                {
                    call.Errno(-Errno.ENODEV);
                    return;
                }
                BdevRpc.Status(call, LvolStoreOps.Rename(s, args.String("new_name")!));
            }));
        RegisterVolumeMethods(server);
    }

    private static void RegisterVolumeMethods(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_lvol_create",
            [Req("lvol_name", RpcParamKind.String), Opt("size_in_mib", RpcParamKind.UInt64),
             Opt("size", RpcParamKind.UInt64), Opt("thin_provision", RpcParamKind.Bool),
             Opt("uuid", RpcParamKind.String), Opt("lvs_name", RpcParamKind.String),
             Opt("clear_method", RpcParamKind.String)],
            (call, args) =>
            {
                if (Store(call, args) is not { } s)
                {
                    return;
                }
                ulong size = args.Has("size_in_mib") ? args.UInt64("size_in_mib") << 20 : args.UInt64("size");
                LvolBdev? v = null;
                int rc = LvolClear.Parse(args.String("clear_method"), LvolClearMethod.Default,
                    out LvolClearMethod clear);
                if (rc == 0)
                {
                    rc = LvolVolumes.Create(s, args.String("lvol_name")!, size, args.Bool("thin_provision"), clear,
                        out v);
                }
                Reply(call, rc, () => call.Result(v!.Uuid.ToString()));
            }));
        server.Register(new RpcMethod("bdev_lvol_get_lvols",
            [Opt("lvs_uuid", RpcParamKind.String), Opt("lvs_name", RpcParamKind.String)], GetLvols));
        server.Register(new RpcMethod("bdev_lvol_snapshot",
            [Req("lvol_name", RpcParamKind.String), Req("snapshot_name", RpcParamKind.String)],
            (call, args) => OnVolume(call, args.String("lvol_name")!, v =>
            {
                int rc = LvolSnapshots.Snapshot(v, args.String("snapshot_name")!, out LvolBdev? snap);
                Reply(call, rc, () => call.Result(snap!.Uuid.ToString()));
            })));
        server.Register(new RpcMethod("bdev_lvol_clone",
            [Req("snapshot_name", RpcParamKind.String), Req("clone_name", RpcParamKind.String)],
            (call, args) => OnVolume(call, args.String("snapshot_name")!, v =>
            {
                int rc = LvolSnapshots.Clone(v, args.String("clone_name")!, out LvolBdev? clone);
                Reply(call, rc, () => call.Result(clone!.Uuid.ToString()));
            })));
        Simple(server, "bdev_lvol_inflate", [], (v, _) => LvolSnapshots.Inflate(v, decouple: false));
        Simple(server, "bdev_lvol_decouple_parent", [], (v, _) => LvolSnapshots.Inflate(v, decouple: true));
        Simple(server, "bdev_lvol_resize", [Req("size_in_mib", RpcParamKind.UInt64)],
            (v, args) => LvolVolumes.Resize(v, args.UInt64("size_in_mib") << 20));
        Simple(server, "bdev_lvol_set_read_only", [], (v, _) => LvolVolumes.SetReadOnly(v));
        server.Register(new RpcMethod("bdev_lvol_rename",
            [Req("old_name", RpcParamKind.String), Req("new_name", RpcParamKind.String)],
            (call, args) => OnVolume(call, args.String("old_name")!,
                v => BdevRpc.Status(call, LvolVolumes.Rename(v, args.String("new_name")!)))));
        server.Register(new RpcMethod("bdev_lvol_delete", [Req("name", RpcParamKind.String)],
            (call, args) => OnVolume(call, args.String("name")!, v =>
            {
                int rc = LvolVolumes.Delete(v, status => BdevRpc.Status(call, status < 0 ? status : -status));
                if (rc != 0)
                {
                    call.Errno(rc);
                }
            })));
    }

    /// <summary>A method of one volume ("name") answering true or an errno.</summary>
    private static void Simple(RpcServer server, string method, RpcParam[] more, Func<LvolBdev, RpcParams, int> op)
    {
        RpcParam[] ps = [Req("name", RpcParamKind.String), .. more];
        server.Register(new RpcMethod(method, ps,
            (call, args) => OnVolume(call, args.String("name")!, v => BdevRpc.Status(call, op(v, args)))));
    }

    private static void Reply(RpcCall call, int rc, Action ok)
    {
        if (rc != 0)
        {
            Log.Info($"rpc: {call.Method}: {LastError.Message}");
            call.Errno(rc);
            return;
        }
        ok();
    }

    private static void OnVolume(RpcCall call, string name, Action<LvolBdev> then)
    {
        LvolBdev? v = LvolStoreOps.FindVolume(name);
        if (v == null)
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        then(v);
    }

    /// <summary>The store <paramref name="uuidKey"/> ("uuid", or "lvs_uuid") or "lvs_name" names;
    /// -ENODEV (or invalid params for neither or both) replied when there is none.</summary>
    private static LvolStore? Store(RpcCall call, RpcParams args, string uuidKey = "uuid")
    {
        string? uuid = args.String(uuidKey), name = args.String("lvs_name");
        if ((uuid == null) == (name == null))
        {
            call.Error(RpcError.InvalidParams, $"{RpcError.InvalidParamsMessage}: give exactly one of " +
                "'uuid' and 'lvs_name'");
            return null;
        }
        LvolStore? s = uuid != null ? LvolStore.FindByUuid(uuid) : LvolStore.Find(name!);
        if (s == null)
        {
            call.Errno(-Errno.ENODEV);
        }
        return s;
    }

    private static void GetLvstores(RpcCall call, RpcParams args)
    {
        LvolStore[] stores = LvolStore.All();
        if (args.Has("uuid") || args.Has("lvs_name"))
        {
            if (Store(call, args) is not { } one)
            {
                return;
            }
            stores = [one];
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            foreach (LvolStore s in stores)
            {
                w.WriteStartObject();
                w.WriteString("uuid", s.Uuid);
                w.WriteString("name", s.Name);
                w.WriteString("base_bdev", s.Base.Name);
                w.WriteNumber("total_data_clusters", s.TotalDataClusters);
                w.WriteNumber("free_clusters", s.FreeClusters);
                w.WriteNumber("block_size", s.IoUnitSize);
                w.WriteNumber("cluster_size", s.ClusterSize);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    private static void GetLvols(RpcCall call, RpcParams args)
    {
        LvolStore[] stores = LvolStore.All();
        if (args.Has("lvs_uuid") || args.Has("lvs_name"))
        {
            if (Store(call, args, "lvs_uuid") is not { } one)
            {
                return;
            }
            stores = [one];
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            foreach (LvolStore s in stores)
            {
                foreach (LvolBdev v in s.Volumes)
                {
                    WriteLvol(w, s, v);
                }
            }
            w.WriteEndArray();
        });
    }

    private static void WriteLvol(Utf8JsonWriter w, LvolStore s, LvolBdev v)
    {
        w.WriteStartObject();
        w.WriteString("alias", s.Name + "/" + v.LvolName);
        w.WriteString("uuid", v.Uuid.ToString());
        w.WriteString("name", v.LvolName);
        w.WriteBoolean("is_thin_provisioned", v.Blob.IsThin);
        w.WriteBoolean("is_snapshot", v.Blob.Clones.Count > 0);
        w.WriteBoolean("is_clone", v.Blob.Parent != null);
        w.WriteBoolean("is_esnap_clone", false);
        w.WriteBoolean("is_degraded", false);
        w.WriteNumber("num_allocated_clusters", v.Blob.AllocatedClusters);
        w.WriteStartObject("lvs");
        w.WriteString("name", s.Name);
        w.WriteString("uuid", s.Uuid);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
