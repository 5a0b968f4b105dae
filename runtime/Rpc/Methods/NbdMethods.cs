using NativeBdev.Env;
using NativeBdev.Nbd;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>The network NBD server's methods. SPDK has none of these (its nbd_start_disk
/// attaches a bdev to the kernel's /dev/nbdX): the names and parameters are ours, shaped as
/// SPDK's are. The server runs on the RPC server's thread.</summary>
internal static class NbdMethods
{
    public static void Register(RpcServer server)
    {
        RpcParam[] start = [Opt("listen_address", RpcParamKind.String)];
        RpcParam[] remove = [Req("name", RpcParamKind.String)];
        server.Register(new RpcMethod("nbd_server_start", start,
            (call, args) => BdevRpc.Status(call, NbdService.Start(args.String("listen_address")))));
        server.Register(new RpcMethod("nbd_server_add_export",
            [
                Req("name", RpcParamKind.String), Req("bdev_name", RpcParamKind.String),
                Opt("read_only", RpcParamKind.Bool), Opt("description", RpcParamKind.String),
            ],
            (call, args) => BdevRpc.Status(call, NbdService.AddExport(args.String("name"), args.String("bdev_name"),
                args.Bool("read_only"), args.String("description")))));
        server.Register(new RpcMethod("nbd_server_remove_export", remove,
            (call, args) => BdevRpc.Status(call, NbdService.RemoveExport(args.String("name")))));
        server.Register(new RpcMethod("nbd_server_stop", [],
            (call, _) => BdevRpc.Status(call, NbdService.Stop())));
    }
}
