using System;
using System.Globalization;
using System.Text;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>bdev_aio_create/delete and bdev_uring_create/delete (SPDK's bdev_aio_rpc.c and
/// bdev_uring_rpc.c): a file or block device under a name. Both open with O_DIRECT as SPDK's
/// modules do; block_size 0 or absent means the device's own (512 for a file).</summary>
internal static class FileDeviceMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_aio_create",
            [Req("filename", RpcParamKind.String), Req("name", RpcParamKind.String),
             Opt("block_size", RpcParamKind.UInt32), Opt("readonly", RpcParamKind.Bool),
             Opt("fallocate", RpcParamKind.Bool), Opt("uuid", RpcParamKind.Uuid)],
            (call, args) =>
            {
                if (args.Bool("fallocate"))
                {
                    // Our aio bdev zeroes and unmaps through the kernel's own calls; a config
                    // that asks for fallocate must not get something else silently.
                    call.Error(RpcError.InvalidParams,
                        $"{RpcError.InvalidParamsMessage}: 'fallocate' true is not supported by aio bdevs");
                    return;
                }
                Create(call, args, "aio", args.Bool("readonly"));
            }));
        server.Register(new RpcMethod("bdev_aio_delete", [Req("name", RpcParamKind.String)],
            (call, args) => BdevRpc.Delete(call, args.String("name")!, "aio")));
        server.Register(new RpcMethod("bdev_uring_create",
            [Req("filename", RpcParamKind.String), Req("name", RpcParamKind.String),
             Opt("block_size", RpcParamKind.UInt32), Opt("uuid", RpcParamKind.Uuid)],
            (call, args) => Create(call, args, "uring", readOnly: false)));
        server.Register(new RpcMethod("bdev_uring_delete", [Req("name", RpcParamKind.String)],
            (call, args) => BdevRpc.Delete(call, args.String("name")!, "uring")));
    }

    private static void Create(RpcCall call, RpcParams args, string scheme, bool readOnly)
    {
        var uri = new StringBuilder(scheme).Append("://").Append(EscapePath(args.String("filename")!));
        uri.Append("?name=").Append(BdevRpc.Q(args.String("name")!)).Append("&direct=1");
        if (args.UInt32("block_size") is var bs && bs != 0)
        {
            uri.Append("&blk_size=").Append(bs.ToString(CultureInfo.InvariantCulture));
        }
        if (readOnly)
        {
            uri.Append("&readonly=1");
        }
        if (args.Uuid("uuid") is Guid uuid)
        {
            uri.Append("&uuid=").Append(uuid.ToString());
        }
        BdevRpc.Create(call, uri.ToString());
    }

    /// <summary>The absolute path, each segment percent-encoded: the URI's path is decoded by
    /// the factory, so a name with '?', '%' or '#' reaches open() unchanged.</summary>
    private static string EscapePath(string filename)
    {
        string full = filename.Length == 0 ? "" : System.IO.Path.GetFullPath(filename);
        string[] parts = full.Split('/');
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = Uri.EscapeDataString(parts[i]);
        }
        return string.Join('/', parts);
    }
}
