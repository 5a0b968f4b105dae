namespace NativeBdev.Rpc;

/// <summary>One entry of the method table: SPDK's name, the parameters it declares (checked
/// before the handler runs, so a handler never sees a missing required parameter or a wrong
/// type) and the handler.</summary>
internal sealed class RpcMethod
{
    public RpcMethod(string name, RpcParam[] parameters, RpcHandler handler)
    {
        Name = name;
        Parameters = parameters;
        Handler = handler;
    }

    public string Name { get; }
    public RpcParam[] Parameters { get; }
    public RpcHandler Handler { get; }
}
