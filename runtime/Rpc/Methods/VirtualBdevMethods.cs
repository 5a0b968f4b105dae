using System.Text;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>SPDK's passthru, error and delay bdevs (bdev_passthru_rpc.c, vbdev_error_rpc.c,
/// vbdev_delay_rpc.c): bdevs over a base, made by the bdev://, error:// and delay:// factories.</summary>
internal static class VirtualBdevMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_passthru_create",
            [Req("base_bdev_name", RpcParamKind.String), Req("name", RpcParamKind.String),
             Opt("uuid", RpcParamKind.Uuid)],
            (call, args) => BdevRpc.Create(call,
                Over("bdev", args.String("base_bdev_name")!, args.String("name"), args))));
        server.Register(new RpcMethod("bdev_passthru_delete", [Req("name", RpcParamKind.String)],
            (call, args) => BdevRpc.Delete(call, args.String("name")!, "loopback")));

        server.Register(new RpcMethod("bdev_error_create",
            [Req("base_name", RpcParamKind.String), Opt("uuid", RpcParamKind.Uuid)], (call, args) =>
            {
                int rc = BdevFactory.Create(Over("error", args.String("base_name")!, null, args), out _);
                if (rc != 0)
                {
                    Log.Info($"rpc: bdev_error_create: {LastError.Message}");
                    call.Errno(rc);
                    return;
                }
                call.Result(true); // SPDK answers true, not the name (EE_base)
            }));
        server.Register(new RpcMethod("bdev_error_delete", [Req("name", RpcParamKind.String)],
            (call, args) => BdevRpc.Delete(call, args.String("name")!, "error")));
        server.Register(new RpcMethod("bdev_error_inject_error",
            [Req("name", RpcParamKind.String), Req("io_type", RpcParamKind.String),
             Req("error_type", RpcParamKind.String),
             Opt("num", RpcParamKind.UInt32), Opt("nvme_sct", RpcParamKind.UInt32), Opt("nvme_sc", RpcParamKind.UInt32),
             Opt("queue_depth", RpcParamKind.UInt64), Opt("corrupt_offset", RpcParamKind.UInt64),
             Opt("corrupt_value", RpcParamKind.UInt32)],
            InjectError));

        server.Register(new RpcMethod("bdev_delay_create",
            [Req("base_bdev_name", RpcParamKind.String), Req("name", RpcParamKind.String),
             Opt("uuid", RpcParamKind.Uuid),
             Req("avg_read_latency", RpcParamKind.UInt64), Req("p99_read_latency", RpcParamKind.UInt64),
             Req("avg_write_latency", RpcParamKind.UInt64), Req("p99_write_latency", RpcParamKind.UInt64)],
            (call, args) =>
            {
                string uri = Over("delay", args.String("base_bdev_name")!, args.String("name"), args) +
                    $"&avg_read_us={args.UInt64("avg_read_latency")}&p99_read_us={args.UInt64("p99_read_latency")}" +
                    $"&avg_write_us={args.UInt64("avg_write_latency")}&p99_write_us={args.UInt64("p99_write_latency")}";
                BdevRpc.Create(call, uri);
            }));
        server.Register(new RpcMethod("bdev_delay_delete", [Req("name", RpcParamKind.String)],
            (call, args) => BdevRpc.Delete(call, args.String("name")!, "delay")));
        server.Register(new RpcMethod("bdev_delay_update_latency",
            [Req("delay_bdev_name", RpcParamKind.String), Req("latency_type", RpcParamKind.String),
             Req("latency_us", RpcParamKind.UInt64)],
            (call, args) =>
            {
                IDelayBdevTuner? tuner = BdevModules.Find<IDelayBdevTuner>();
                int rc = tuner == null
                    ? LastError.Set(Errno.ENOTSUP, "no delay module")
                    : tuner.UpdateLatency(args.String("delay_bdev_name")!, args.String("latency_type")!,
                        args.UInt64("latency_us"));
                BdevRpc.Status(call, rc);
            }));
    }

    /// <summary>SCHEME:///BASE?name=&amp;uuid= (the name omitted: the module's default).</summary>
    private static string Over(string scheme, string baseName, string? name, RpcParams args)
    {
        var uri = new StringBuilder(scheme).Append(":///").Append(BdevRpc.Q(baseName)).Append('?');
        if (name != null)
        {
            uri.Append("name=").Append(BdevRpc.Q(name)).Append('&');
        }
        if (args.Uuid("uuid") is { } uuid)
        {
            uri.Append("uuid=").Append(uuid.ToString()).Append('&');
        }
        return uri.ToString(0, uri.Length - 1);
    }

    private static void InjectError(RpcCall call, RpcParams args)
    {
        string name = args.String("name")!, ioTypeName = args.String("io_type")!;
        string errorType = args.String("error_type")!;
        int ioType = ioTypeName switch
        {
            "read" => (int)BdevIoType.Read,
            "write" => (int)BdevIoType.Write,
            "flush" => (int)BdevIoType.Flush,
            "unmap" => (int)BdevIoType.Unmap,
            "all" => 0,
            "clear" => -1,
            _ => int.MinValue,
        };
        if (ioType == int.MinValue)
        {
            call.Error(RpcError.InvalidParams,
                $"{RpcError.InvalidParamsMessage}: 'io_type' '{ioTypeName}' is not read, write, flush, unmap, all " +
                "or clear");
            return;
        }
        int kind = errorType switch
        {
            "failure" => 1,
            "pending" => 2,
            "corrupt_data" => 3,
            "nomem" => 4,
            "nvme_failure" => 5,
            _ => 0,
        };
        if (kind == 0)
        {
            call.Error(RpcError.InvalidParams, $"{RpcError.InvalidParamsMessage}: 'error_type' '{errorType}' is not " +
                "failure, pending, corrupt_data, nomem or nvme_failure");
            return;
        }
        uint sct = args.UInt32("nvme_sct"), sc = args.UInt32("nvme_sc");
        if ((kind == 5) == (sct == 0 && sc == 0))
        {
            // SPDK's own check and message.
            call.Error(-Errno.EINVAL, "nvme_sct or nvme_sc should be specified for NVMe error injection");
            return;
        }
        string? unsupported = args.UInt64("queue_depth") != 0 ? "queue_depth"
            : args.Has("corrupt_offset") || args.Has("corrupt_value") ? "corrupt_offset/corrupt_value" : null;
        if (unsupported != null)
        {
            // corrupt_data here flips the whole buffer's first bytes; a chosen offset and
            // value, or an error only past a queue depth, is not something we can honour.
            call.Error(RpcError.InvalidParams, $"{RpcError.InvalidParamsMessage}: '{unsupported}' is not supported");
            return;
        }
        IErrorBdevInjector? injector = BdevModules.Find<IErrorBdevInjector>();
        if (injector == null)
        {
            BdevRpc.Status(call, LastError.Set(Errno.ENOTSUP, "no error module"));
            return;
        }
        uint num = args.UInt32("num", 1);
        int rc = ioType == -1 ? injector.Clear(name)
            : kind == 5 ? injector.InjectNvme(name, ioType, num, sct, sc)
            : injector.Inject(name, ioType, kind, num);
        BdevRpc.Status(call, rc);
    }
}
