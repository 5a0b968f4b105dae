namespace NativeBdev.Rpc;

/// <summary>JSON-RPC 2.0 error codes and the messages SPDK's jsonrpc server sends with them
/// (lib/jsonrpc: "Parse error", "Invalid request", "Method not found"). Handler failures
/// are a negative errno instead, with strerror's text.</summary>
internal static class RpcError
{
    public const int ParseError = -32700;
    public const int InvalidRequest = -32600;
    public const int MethodNotFound = -32601;
    public const int InvalidParams = -32602;
    public const int InternalError = -32603;

    public const string ParseErrorMessage = "Parse error";
    public const string InvalidRequestMessage = "Invalid request";
    public const string MethodNotFoundMessage = "Method not found";
    public const string InvalidParamsMessage = "Invalid parameters";
    public const string InternalErrorMessage = "Internal error";

    /// <summary>SPDK copies at most this many bytes of a request's id (SPDK_JSONRPC_ID_MAX_LEN);
    /// a longer id makes the request invalid.</summary>
    public const int MaxIdLength = 128;
}
