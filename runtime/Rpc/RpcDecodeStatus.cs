namespace NativeBdev.Rpc;

/// <summary>What <see cref="RpcDecoder.Feed"/> found. Anything but <see cref="Ok"/> closes the
/// decoder: SPDK's server closes the connection after a parse error, because a stream of
/// JSON values has no point at which parsing could safely start again.</summary>
internal enum RpcDecodeStatus
{
    Ok = 0,

    /// <summary>A byte that cannot begin or continue a JSON value at its place (a stray
    /// closing bracket, a comma between values), or nesting deeper than the limit.</summary>
    Malformed = 1,

    /// <summary>One value grew past the request size limit before it completed.</summary>
    TooLarge = 2,

    /// <summary>Fed after an error: the connection is being closed.</summary>
    Closed = 3,
}
