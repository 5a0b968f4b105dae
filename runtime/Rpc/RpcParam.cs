namespace NativeBdev.Rpc;

/// <summary>One parameter a method takes (SPDK's spdk_json_object_decoder entry): name, JSON
/// type, and whether the call must give it.</summary>
internal readonly record struct RpcParam(string Name, RpcParamKind Kind, bool Required = false)
{
    public static RpcParam Req(string name, RpcParamKind kind) => new(name, kind, true);

    public static RpcParam Opt(string name, RpcParamKind kind) => new(name, kind);
}
