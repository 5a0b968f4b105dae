namespace NativeBdev.Rpc;

/// <summary>The JSON type a method parameter must have.</summary>
internal enum RpcParamKind
{
    String,
    Bool,
    UInt32,
    UInt64,
    Int64,

    /// <summary>A string that parses as a UUID.</summary>
    Uuid,
}
