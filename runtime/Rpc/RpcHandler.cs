namespace NativeBdev.Rpc;

/// <summary>A method's handler: validated parameters in, exactly one reply through the call
/// (now, or later from a completion callback). <paramref name="args"/> is valid only during
/// the call: read every parameter before returning.</summary>
internal delegate void RpcHandler(RpcCall call, RpcParams args);
