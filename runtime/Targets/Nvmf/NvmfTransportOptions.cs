namespace NativeBdev.Targets.Nvmf;

/// <summary>The TCP transport's limits (SPDK's nvmf_create_transport -t TCP, with its
/// defaults), fixed when the transport is created. Each connection gets
/// <see cref="BufferBytes"/> of DMA memory in <see cref="ChunkBytes"/> pieces and
/// <see cref="MaxQueueDepth"/> request slots when it is accepted; a command that finds no
/// room waits in the socket.</summary>
internal sealed class NvmfTransportOptions
{
    public int MaxQueueDepth { get; init; } = 128;

    public int MaxAdminQueueDepth { get; init; } = 128;

    /// <summary>Queue pairs per controller, the admin queue included.</summary>
    public int MaxQpairsPerController { get; init; } = 128;

    public int InCapsuleDataSize { get; init; } = 4096;

    public int MaxIoSize { get; init; } = 131072;

    /// <summary>A read's last C2HData carries SUCCESS and no response capsule follows.</summary>
    public bool C2HSuccess { get; init; } = true;

    public bool DigestsAllowed { get; init; } = true;

    public int BufferBytes { get; init; } = 4 << 20;

    public int ChunkBytes { get; init; } = 16 << 10;

    /// <summary>What the admin queue's capsules may carry: Linux sends 8 KiB.</summary>
    public const int AdminInCapsuleDataSize = 8192;

    public string? Check()
    {
        if (MaxQueueDepth < 2 || MaxQueueDepth > 65536 || MaxAdminQueueDepth < 2 || MaxAdminQueueDepth > 4096)
        {
            return $"max_queue_depth {MaxQueueDepth} / max_aq_depth {MaxAdminQueueDepth} out of range " +
                "(2..65536 / 2..4096)";
        }
        if (MaxQpairsPerController < 2 || MaxQpairsPerController > 65535)
        {
            return $"max_qpairs_per_ctrlr {MaxQpairsPerController} out of range (2..65535)";
        }
        if (InCapsuleDataSize < 0 || InCapsuleDataSize > 65536 || InCapsuleDataSize % 16 != 0)
        {
            return $"in_capsule_data_size {InCapsuleDataSize} must be a multiple of 16 up to 65536";
        }
        if (MaxIoSize < 4096 || MaxIoSize > (16 << 20) || (MaxIoSize & (MaxIoSize - 1)) != 0)
        {
            return $"max_io_size {MaxIoSize} must be a power of two from 4096 to 16 MiB";
        }
        if (ChunkBytes < 4096 || (ChunkBytes & (ChunkBytes - 1)) != 0 || BufferBytes < MaxIoSize ||
            BufferBytes < AdminInCapsuleDataSize)
        {
            return $"buffers of {BufferBytes} bytes in chunks of {ChunkBytes} cannot hold one {MaxIoSize}-byte I/O";
        }
        return null;
    }

    /// <summary>MDTS: the largest transfer as a power of two of 4 KiB pages.</summary>
    public byte Mdts
    {
        get
        {
            byte m = 0;
            while ((4096 << m) < MaxIoSize)
            {
                m++;
            }
            return m;
        }
    }
}
