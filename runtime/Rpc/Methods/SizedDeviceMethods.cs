using System;
using System.Globalization;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>bdev_malloc_create/delete and bdev_null_create/delete (SPDK's bdev_malloc_rpc.c
/// and bdev_null_rpc.c): parse, call the core's factory with the URI the C ABI would get,
/// reply. Metadata, DIF and a physical block size other than the logical one are not
/// supported by our malloc and null bdevs: a non-default value is refused by name rather
/// than ignored.</summary>
internal static class SizedDeviceMethods
{
    public static void Register(RpcServer server, string module, string namePrefix, bool nameRequired)
    {
        RpcParam[] create =
        [
            new("name", RpcParamKind.String, nameRequired), Req("num_blocks", RpcParamKind.UInt64),
            Req("block_size", RpcParamKind.UInt32), Opt("physical_block_size", RpcParamKind.UInt32),
            Opt("uuid", RpcParamKind.Uuid), Opt("optimal_io_boundary", RpcParamKind.UInt32),
            Opt("md_size", RpcParamKind.UInt32), Opt("md_interleave", RpcParamKind.Bool),
            Opt("dif_type", RpcParamKind.UInt32), Opt("dif_is_head_of_md", RpcParamKind.Bool),
            Opt("dif_pi_format", RpcParamKind.UInt32),
        ];
        server.Register(new RpcMethod($"bdev_{module}_create", create,
            (call, args) => Create(call, args, module, namePrefix)));
        server.Register(new RpcMethod($"bdev_{module}_delete", [Req("name", RpcParamKind.String)],
            (call, args) => Delete(call, args.String("name")!, module)));
    }

    private static void Create(RpcCall call, RpcParams args, string module, string namePrefix)
    {
        uint blockSize = args.UInt32("block_size");
        string? unsupported =
            args.UInt32("md_size") != 0 ? "md_size" :
            args.Bool("md_interleave") ? "md_interleave" :
            args.UInt32("dif_type") != 0 ? "dif_type" :
            args.Bool("dif_is_head_of_md") ? "dif_is_head_of_md" :
            args.UInt32("dif_pi_format") != 0 ? "dif_pi_format" :
            args.UInt32("optimal_io_boundary") != 0 ? "optimal_io_boundary" :
            args.UInt32("physical_block_size", blockSize) is var p && p != 0 && p != blockSize
                ? "physical_block_size" : null;
        if (unsupported != null)
        {
            call.Error(RpcError.InvalidParams,
                $"{RpcError.InvalidParamsMessage}: '{unsupported}' other than its default is not supported " +
                $"by {module} bdevs");
            return;
        }
        string name = args.String("name") ?? FreeName(namePrefix);
        string uri = string.Create(CultureInfo.InvariantCulture,
            $"{module}:///{Uri.EscapeDataString(name)}?num_blocks={args.UInt64("num_blocks")}&blk_size={blockSize}");
        if (args.Uuid("uuid") is Guid uuid)
        {
            uri += "&uuid=" + uuid.ToString();
        }
        int rc = BdevFactory.Create(uri, out string? created);
        if (rc != 0)
        {
            Log.Info($"rpc: bdev_{module}_create '{name}': {LastError.Message}");
            call.Errno(rc);
            return;
        }
        call.Result(created!);
    }

    /// <summary>SPDK numbers unnamed malloc bdevs Malloc0, Malloc1, ...: the first free one.</summary>
    private static string FreeName(string prefix)
    {
        for (int i = 0; ; i++)
        {
            string name = prefix + i.ToString(CultureInfo.InvariantCulture);
            if (BdevRegistry.Find(name) == null)
            {
                return name;
            }
        }
    }

    /// <summary>Only a bdev of this module: SPDK answers -ENODEV for a bdev of another.</summary>
    private static void Delete(RpcCall call, string name, string module) =>
        BdevDelete.Reply(call, name, b => b.ModuleName == module);
}
