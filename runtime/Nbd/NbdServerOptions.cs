namespace NativeBdev.Nbd;

/// <summary>Per-connection limits, fixed when the server starts. Each connection that
/// chooses an export gets <see cref="BufferBytes"/> of DMA memory in
/// <see cref="ChunkBytes"/> pieces and <see cref="MaxRequestsInFlight"/> request slots,
/// allocated then and not again; a request that finds none free waits in the socket.</summary>
internal sealed class NbdServerOptions
{
    /// <summary>The largest read or write (NBD_INFO_BLOCK_SIZE's maximum payload).</summary>
    public uint MaxPayloadBytes { get; init; } = 2 << 20;

    public int BufferBytes { get; init; } = 8 << 20;

    public int ChunkBytes { get; init; } = 64 << 10;

    public int MaxRequestsInFlight { get; init; } = 64;

    public int MaxConnections { get; init; } = 256;
}
