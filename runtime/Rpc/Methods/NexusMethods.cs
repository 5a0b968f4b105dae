using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Modules.Nexus;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>Mayastor's nexus over JSON-RPC, thin over the nexus core (the calls the C API
/// makes): nexus_create, nexus_destroy, nexus_list; nexus_add_child, nexus_remove_child,
/// nexus_fault_child, nexus_online_child; nexus_rebuild_start, _stop, _pause, _resume,
/// _state, _stats, _history, nexus_set_rebuild_rate and nexus_set_rebuild_verify. Mayastor's gRPC calls these
/// CreateNexus, DestroyNexus, ListNexus, AddChildNexus, RemoveChildNexus, FaultNexusChild,
/// ChildOperation, StartRebuild, StopRebuild, PauseRebuild, ResumeRebuild, GetRebuildState,
/// GetRebuildStats and GetRebuildHistory; the parameters keep its names where it has them (a
/// child is its uri, which here may also be its bdev's name; norebuild) and the nexus is
/// named by name (its name or, as Mayastor names it, its UUID). Errors answer the negative
/// errno with strerror's text and the core's message. Everything that changes a nexus runs on
/// the server's thread (its reconfigurations and rebuilds are that thread's work).</summary>
internal static class NexusMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("nexus_create",
        [
            Req("name", RpcParamKind.String), Req("children", RpcParamKind.StringList),
            Opt("size", RpcParamKind.UInt64), Opt("uuid", RpcParamKind.Uuid), Opt("state_file", RpcParamKind.String),
        ], Create));
        server.Register(new RpcMethod("nexus_destroy", [Req("name", RpcParamKind.String)],
            (call, args) => BdevRpc.Delete(call, args.String("name")!, b => b is NexusBdev)));
        server.Register(new RpcMethod("nexus_list", [Opt("name", RpcParamKind.String)], List));
        server.Register(new RpcMethod("nexus_add_child",
        [
            Req("name", RpcParamKind.String), Req("uri", RpcParamKind.String), Opt("norebuild", RpcParamKind.Bool),
        ], (call, args) => OnNexus(call, args, n => n.AddChild(args.String("uri")!, !args.Bool("norebuild")))));
        server.Register(new RpcMethod("nexus_remove_child", ChildParams(),
            (call, args) => OnNexus(call, args, n => n.RemoveChild(args.String("uri")!))));
        server.Register(new RpcMethod("nexus_fault_child",
            [Req("name", RpcParamKind.String), Req("uri", RpcParamKind.String), Opt("reason", RpcParamKind.String)],
            Fault));
        server.Register(new RpcMethod("nexus_online_child", ChildParams(),
            (call, args) => OnNexus(call, args, n => n.Online(args.String("uri")!))));
        server.Register(new RpcMethod("nexus_rebuild_start", ChildParams(),
            (call, args) => OnNexus(call, args, n => n.StartRebuild(args.String("uri")!))));
        server.Register(new RpcMethod("nexus_rebuild_stop", ChildParams(),
            (call, args) => OnNexus(call, args, n => n.StopRebuild(args.String("uri")!))));
        server.Register(new RpcMethod("nexus_rebuild_pause", ChildParams(),
            (call, args) => OnNexus(call, args, n => n.PauseRebuild(args.String("uri")!))));
        server.Register(new RpcMethod("nexus_rebuild_resume", ChildParams(),
            (call, args) => OnNexus(call, args, n => n.ResumeRebuild(args.String("uri")!))));
        server.Register(new RpcMethod("nexus_rebuild_state", ChildParams(), (call, args) =>
            OnJob(call, args, job => call.Result(w =>
            {
                w.WriteStartObject();
                w.WriteString("state", NexusRebuildRecord.StateName(job.State));
                w.WriteEndObject();
            }))));
        server.Register(new RpcMethod("nexus_rebuild_stats", ChildParams(),
            (call, args) => OnJob(call, args, job => call.Result(w => WriteStats(w, job)))));
        server.Register(new RpcMethod("nexus_rebuild_history", [Req("name", RpcParamKind.String)], History));
        server.Register(new RpcMethod("nexus_set_rebuild_rate",
            [Req("name", RpcParamKind.String), Req("max_bytes_per_sec", RpcParamKind.UInt64)],
            (call, args) => OnNexus(call, args,
                n => n.SetRebuildRate((long)Math.Min(args.UInt64("max_bytes_per_sec"), long.MaxValue)),
                needsThread: false)));
        server.Register(new RpcMethod("nexus_set_rebuild_verify",
            [Req("name", RpcParamKind.String), Req("verify", RpcParamKind.Bool)],
            (call, args) => OnNexus(call, args, n =>
            {
                n.RebuildVerify = args.Bool("verify");
                return 0;
            }, needsThread: false)));
    }

    private static RpcParam[] ChildParams() => [Req("name", RpcParamKind.String), Req("uri", RpcParamKind.String)];

    /// <summary>A failed core call: the errno, strerror's text and what the core said.</summary>
    private static void Fail(RpcCall call, int rc)
    {
        Log.Info($"rpc: {call.Method}: {LastError.Message}");
        call.Error(rc, $"{Libc.StrError(-rc)}: {LastError.Message}");
    }

    private static bool Find(RpcCall call, RpcParams args, bool needsThread, out NexusBdev? nexus)
    {
        nexus = null;
        int rc = needsThread ? NexusModule.CheckThread() : 0;
        if (rc == 0)
        {
            rc = FindByNameOrUuid(args.String("name")!, out nexus);
        }
        if (rc != 0)
        {
            Fail(call, rc);
            return false;
        }
        return true;
    }

    /// <summary>The nexus named so, or whose UUID it is (Mayastor names a nexus by its UUID).</summary>
    private static int FindByNameOrUuid(string name, out NexusBdev? nexus)
    {
        int rc = NexusModule.Find(name, out nexus);
        if (rc == 0 || !Guid.TryParse(name, out Guid uuid))
        {
            return rc;
        }
        foreach (Bdev.Bdev b in BdevRegistry.Snapshot())
        {
            if (b is NexusBdev { Removing: false } n && n.Uuid == uuid)
            {
                nexus = n;
                return 0;
            }
        }
        return rc;
    }

    /// <summary>Runs <paramref name="op"/> on the nexus the call names; replies true or its error.</summary>
    private static void OnNexus(RpcCall call, RpcParams args, Func<NexusBdev, int> op, bool needsThread = true)
    {
        if (!Find(call, args, needsThread, out NexusBdev? n))
        {
            return;
        }
        int rc = op(n!);
        if (rc != 0)
        {
            Fail(call, rc);
            return;
        }
        call.Result(true);
    }

    /// <summary>The rebuild of the child the call names (-ENOENT when it has none).</summary>
    private static void OnJob(RpcCall call, RpcParams args, Action<NexusRebuild> reply)
    {
        if (!Find(call, args, needsThread: false, out NexusBdev? n))
        {
            return;
        }
        string uri = args.String("uri")!;
        NexusChild? c = n!.FindChild(uri);
        NexusRebuild? job = c == null ? null : n.RebuildOf(c);
        if (job == null)
        {
            Fail(call, c == null
                ? LastError.Set(Errno.ENOENT, $"nexus '{n.Name}' has no child '{uri}'")
                : LastError.Set(Errno.ENOENT, $"child '{c.Name}' of nexus '{n.Name}' has no rebuild"));
            return;
        }
        reply(job);
    }

    private static void Create(RpcCall call, RpcParams args)
    {
        string name = args.String("name")!;
        int rc = NexusModule.Create(name, args.UInt64("size"), args.StringList("children"),
            args.Uuid("uuid") ?? Guid.NewGuid(), args.String("state_file"));
        if (rc != 0)
        {
            Fail(call, rc);
            return;
        }
        call.Result(name);
    }

    private static readonly Dictionary<string, NexusFaultReason> s_reasons = new(StringComparer.Ordinal)
    {
        ["cant_open"] = NexusFaultReason.CantOpen,
        ["no_space"] = NexusFaultReason.NoSpace,
        ["timed_out"] = NexusFaultReason.TimedOut,
        ["io_error"] = NexusFaultReason.IoError,
        ["rebuild_failed"] = NexusFaultReason.RebuildFailed,
        ["admin_failed"] = NexusFaultReason.AdminFailed,
        ["offline"] = NexusFaultReason.Offline,
    };

    /// <summary>Faults the child with <c>reason</c> (a fault reason's name; admin_failed when
    /// absent, as Mayastor's FaultNexusChild).</summary>
    private static void Fault(RpcCall call, RpcParams args)
    {
        string reason = args.String("reason", "admin_failed")!;
        if (!s_reasons.TryGetValue(reason, out NexusFaultReason r))
        {
            Fail(call, LastError.Set(Errno.EINVAL,
                $"reason '{reason}' is not one of {string.Join(", ", s_reasons.Keys)}"));
            return;
        }
        OnNexus(call, args, n => n.Fault(args.String("uri")!, r));
    }

    /// <summary>Mayastor's nexus state: online while every child is healthy, degraded while
    /// one is, faulted when none is.</summary>
    private static string NexusState(List<NexusChild> children)
    {
        int healthy = 0, members = 0;
        foreach (NexusChild c in children)
        {
            if (c.State != NexusChildState.Closed)
            {
                members++;
                healthy += c.Healthy ? 1 : 0;
            }
        }
        return healthy == 0 ? "faulted" : healthy == members ? "online" : "degraded";
    }

    private static void List(RpcCall call, RpcParams args)
    {
        string? only = args.String("name");
        NexusBdev? one = null;
        if (only != null && FindByNameOrUuid(only, out one) != 0)
        {
            Fail(call, -Errno.ENODEV);
            return;
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            if (one != null)
            {
                WriteNexus(w, one);
            }
            else
            {
                foreach (Bdev.Bdev b in BdevRegistry.Snapshot())
                {
                    if (b is NexusBdev { Removing: false } n)
                    {
                        WriteNexus(w, n);
                    }
                }
            }
            w.WriteEndArray();
        });
    }

    private static void WriteNexus(Utf8JsonWriter w, NexusBdev n)
    {
        List<NexusChild> children = n.Children();
        int rebuilds = 0;
        w.WriteStartObject();
        w.WriteString("name", n.Name);
        w.WriteString("uuid", n.Uuid.ToString());
        w.WriteNumber("size", n.BlockCount * n.BlockSize);
        w.WriteString("state", NexusState(children));
        w.WriteNumber("max_bytes_per_sec", n.RebuildRate);
        w.WriteBoolean("rebuild_verify", n.RebuildVerify);
        w.WriteStartArray("children");
        foreach (NexusChild c in children)
        {
            NexusRebuild? job = n.RebuildOf(c);
            rebuilds += job != null ? 1 : 0;
            w.WriteStartObject();
            w.WriteString("uri", c.Uri);
            w.WriteString("name", c.Name);
            w.WriteString("state", NexusChild.StateName(c.State));
            w.WriteString("reason", NexusChild.ReasonName(c.Reason));
            w.WriteString("sync_state", c.Synced ? "synced" : "out-of-sync");
            w.WriteNumber("rebuild_progress", job != null ? job.Progress : -1);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("rebuilds", rebuilds);
        w.WriteEndObject();
    }

    /// <summary>Mayastor's RebuildStats, with the state and the child copied from.</summary>
    private static void WriteStats(Utf8JsonWriter w, NexusRebuild job)
    {
        ulong total = job.BlocksTotal, copied = job.BlocksCopied;
        w.WriteStartObject();
        w.WriteString("state", NexusRebuildRecord.StateName(job.State));
        w.WriteString("src_uri", job.Source?.Uri);
        w.WriteNumber("blocks_total", total);
        w.WriteNumber("blocks_recovered", copied);
        w.WriteNumber("blocks_transferred", copied);
        w.WriteNumber("blocks_remaining", total - Math.Min(copied, total));
        w.WriteNumber("progress", job.Progress);
        w.WriteNumber("segment_size_blks", job.SegmentBlocks);
        w.WriteNumber("blocks_per_task", job.SegmentBlocks);
        w.WriteNumber("block_size", job.BlockSize);
        w.WriteNumber("tasks_total", NexusRebuild.InFlight);
        w.WriteNumber("tasks_active", job.TasksActive);
        w.WriteBoolean("is_partial", job.Partial);
        w.WriteBoolean("verify", job.Verify);
        w.WriteNumber("verify_failures", job.VerifyFailures);
        w.WriteString("start_time", Time(job.Started == DateTime.MinValue ? job.Created : job.Started));
        w.WriteEndObject();
    }

    private static string Time(DateTime t) => t.ToString("o", CultureInfo.InvariantCulture);

    private static void History(RpcCall call, RpcParams args)
    {
        if (!Find(call, args, needsThread: false, out NexusBdev? n))
        {
            return;
        }
        NexusRebuildRecord[] records = n!.RebuildHistory();
        call.Result(w =>
        {
            w.WriteStartObject();
            w.WriteString("name", n.Name);
            w.WriteString("uuid", n.Uuid.ToString());
            w.WriteStartArray("records");
            foreach (NexusRebuildRecord r in records)
            {
                w.WriteStartObject();
                w.WriteString("child_uri", r.ChildUri);
                w.WriteString("child", r.Child);
                w.WriteString("src_uri", r.Source);
                w.WriteString("state", NexusRebuildRecord.StateName(r.State));
                w.WriteNumber("blocks_total", r.BlocksTotal);
                w.WriteNumber("blocks_recovered", r.BlocksCopied);
                w.WriteNumber("blocks_transferred", r.BlocksCopied);
                w.WriteNumber("blocks_remaining", r.BlocksTotal - Math.Min(r.BlocksCopied, r.BlocksTotal));
                w.WriteNumber("blocks_per_task", r.SegmentBlocks);
                w.WriteNumber("block_size", r.BlockSize);
                w.WriteBoolean("is_partial", r.Partial);
                w.WriteString("start_time", Time(r.Start));
                w.WriteString("end_time", Time(r.End));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }
}
