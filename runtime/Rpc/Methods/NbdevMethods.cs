using System;
using System.Globalization;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using static NativeBdev.Rpc.RpcParam;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Rpc.Methods;

/// <summary>Our own methods, prefixed nbdev_ so that they never collide with SPDK's: a bdev
/// from any URI (what nb_bdev_create takes), fault rules, and the device monitor's health;
/// and SPDK's framework_start_init, framework_wait_init and spdk_kill_instance, which a
/// daemon's users script.</summary>
internal static class NbdevMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("nbdev_bdev_create", [Req("uri", RpcParamKind.String)],
            (call, args) => BdevRpc.Create(call, args.String("uri")!)));
        server.Register(new RpcMethod("nbdev_bdev_destroy", [Req("name", RpcParamKind.String)], Destroy));
        server.Register(new RpcMethod("nbdev_fault_add", [Req("uri", RpcParamKind.String)], (call, args) =>
        {
            int id = FaultRegistry.Add(args.String("uri"));
            if (id < 0)
            {
                Log.Info($"rpc: nbdev_fault_add: {LastError.Message}");
                call.Errno(id);
                return;
            }
            call.Result(w => w.WriteNumberValue(id));
        }));
        server.Register(new RpcMethod("nbdev_fault_list", [], (call, _) => call.Result(w =>
        {
            w.WriteStartArray();
            foreach ((FaultRule rule, string bdev) in FaultRegistry.Snapshot())
            {
                w.WriteStartObject();
                w.WriteNumber("id", rule.Id);
                w.WriteString("uri", rule.Uri);
                w.WriteString("bdev", bdev);
                w.WriteNumber("matched", rule.Matched);
                w.WriteNumber("fired", rule.Fired);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        })));
        server.Register(new RpcMethod("nbdev_fault_remove", [Req("id", RpcParamKind.UInt32)],
            (call, args) => BdevRpc.Status(call,
                FaultRegistry.Remove((int)Math.Min(args.UInt32("id"), int.MaxValue)))));
        server.Register(new RpcMethod("nbdev_fault_clear", [Opt("name", RpcParamKind.String)],
            (call, args) => call.Result(w => w.WriteNumberValue(FaultRegistry.Clear(args.String("name"))))));
        server.Register(new RpcMethod("nbdev_bdev_get_health", [Req("name", RpcParamKind.String)], GetHealth));
        server.Register(new RpcMethod("nbdev_bdev_clear_failed", [Req("name", RpcParamKind.String)], (call, args) =>
        {
            BlockDevice? b = BdevRegistry.Find(args.String("name")!);
            BdevRpc.Status(call, b == null ? -Errno.ENODEV : DeviceMonitor.Clear(b));
        }));
        // A host that waits for framework_start_init (nbdev_tgt --wait-for-rpc) registers its
        // start-up step with nb_rpc_wait_for_start_init; otherwise initialisation is over.
        server.Register(new RpcMethod("framework_start_init", [], (call, _) =>
        {
            if (!RpcService.RunStartInit())
            {
                call.Error(-Errno.EALREADY, "framework_start_init: initialisation is already over");
                return;
            }
            call.Result(true);
        }));
        server.Register(new RpcMethod("framework_wait_init", [], (call, _) => server.Defer(() =>
        {
            if (RpcService.StartInitPending)
            {
                return false;
            }
            call.Result(true);
            return true;
        })));
        server.Register(new RpcMethod("spdk_kill_instance", [Req("sig_name", RpcParamKind.String)], Kill));
    }

    private static void Destroy(RpcCall call, RpcParams args) => BdevRpc.Delete(call, args.String("name")!, _ => true);

    private static void GetHealth(RpcCall call, RpcParams args)
    {
        BlockDevice? b = BdevRegistry.Find(args.String("name")!);
        if (b == null)
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        BdevStats s = b.CollectStats();
        call.Result(w =>
        {
            w.WriteStartObject();
            w.WriteString("name", b.Name);
            w.WriteBoolean("failed", b.Failed);
            w.WriteString("reason", b.FailureReason ?? "");
            w.WriteNumber("read_errors", s.Ops[(int)BdevIoType.Read].Errors);
            w.WriteNumber("write_errors", s.Ops[(int)BdevIoType.Write].Errors);
            w.WriteNumber("other_errors", s.OtherErrors());
            w.WriteEndObject();
        });
    }

    /// <summary>SPDK's names (SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGKILL, with or without SIG,
    /// or the number). The reply is queued before the signal is raised: a daemon that stops on
    /// it still answers the caller.</summary>
    private static void Kill(RpcCall call, RpcParams args)
    {
        string name = args.String("sig_name")!;
        string bare = name.StartsWith("SIG", StringComparison.Ordinal) ? name[3..] : name;
        int sig = bare switch
        {
            "INT" or "2" => Libc.SIGINT,
            "TERM" or "15" => Libc.SIGTERM,
            "QUIT" or "3" => Libc.SIGQUIT,
            "HUP" or "1" => Libc.SIGHUP,
            "KILL" or "9" => Libc.SIGKILL,
            _ => 0,
        };
        if (sig == 0)
        {
            call.Error(RpcError.InvalidParams,
                $"{RpcError.InvalidParamsMessage}: 'sig_name' {name} is not SIGINT, SIGTERM, SIGQUIT, SIGHUP " +
                "or SIGKILL");
            return;
        }
        call.Result(true);
        Log.Notice($"rpc: spdk_kill_instance raises signal {sig.ToString(CultureInfo.InvariantCulture)}");
        Libc.kill(Environment.ProcessId, sig);
    }
}
