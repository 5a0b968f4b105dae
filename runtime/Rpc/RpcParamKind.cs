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

    /// <summary>An array of strings, or one string of names separated by blanks (what
    /// rpc.py's -b "A B" becomes in some clients): bdev_raid_create's base_bdevs.</summary>
    StringList,

    /// <summary>A JSON object, checked by the method against a declaration of its own
    /// (nvmf_subsystem_add_ns's "namespace", add_listener's "listen_address").</summary>
    Object,
}
