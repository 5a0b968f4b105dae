using System;
using System.Text.Json;
using NativeBdev.Abi;
using NativeBdev.Bdev;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>rpc_get_methods, spdk_get_version, framework_get_subsystems and
/// framework_get_config: what rpc.py needs to list methods and to build save_config on the
/// client side (it asks for the subsystems, then for each one's config).</summary>
internal static class FrameworkMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("rpc_get_methods",
            [Opt("current", RpcParamKind.Bool), Opt("include_aliases", RpcParamKind.Bool)],
            (call, _) => call.Result(w =>
            {
                // Every method is callable at any time here (SPDK's "current" filters by
                // the framework's start-up state, which we do not have) and none has an alias.
                w.WriteStartArray();
                foreach (string name in server.AllMethodNames())
                {
                    w.WriteStringValue(name);
                }
                w.WriteEndArray();
            })));
        server.Register(new RpcMethod("spdk_get_version", [], (call, _) => call.Result(WriteVersion)));
        server.Register(new RpcMethod("framework_get_subsystems", [], (call, _) => call.Result(WriteSubsystems)));
        server.Register(new RpcMethod("framework_get_config", [Req("name", RpcParamKind.String)], GetConfig));
    }

    private static void WriteVersion(Utf8JsonWriter w)
    {
        string[] parts = BaseExports.Version.Split('.');
        w.WriteStartObject();
        w.WriteString("version", "NativeBdev v" + BaseExports.Version);
        w.WriteStartObject("fields");
        w.WriteNumber("major", int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture));
        w.WriteNumber("minor", int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        w.WriteNumber("patch", int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
        w.WriteString("suffix", "");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteSubsystems(Utf8JsonWriter w)
    {
        w.WriteStartArray();
        foreach (ConfigSubsystems.Subsystem s in ConfigSubsystems.Snapshot())
        {
            w.WriteStartObject();
            w.WriteString("subsystem", s.Name);
            w.WriteStartArray("depends_on");
            foreach (string d in s.DependsOn)
            {
                w.WriteStringValue(d);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void GetConfig(RpcCall call, RpcParams args)
    {
        string name = args.String("name")!;
        foreach (ConfigSubsystems.Subsystem s in ConfigSubsystems.Snapshot())
        {
            if (s.Name == name)
            {
                call.Result(s.WriteConfig);
                return;
            }
        }
        call.Error(RpcError.InvalidParams, $"Subsystem '{name}' not found");
    }
}
