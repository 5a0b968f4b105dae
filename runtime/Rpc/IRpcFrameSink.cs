using System;

namespace NativeBdev.Rpc;

/// <summary>Receives each complete top-level JSON value the <see cref="RpcDecoder"/> finds.
/// The span is valid only during the call.</summary>
internal interface IRpcFrameSink
{
    void OnFrame(ReadOnlySpan<byte> json);
}
