namespace NativeBdev.Interop;

/// <summary>The kernel nbd driver's ioctls and transmission flags (linux/nbd.h): each ioctl is
/// _IO(0xab, n), its argument a plain integer.</summary>
internal static class NbdKernelAbi
{
    public const ulong NBD_SET_SOCK = 0xab00;
    public const ulong NBD_SET_BLKSIZE = 0xab01;
    public const ulong NBD_DO_IT = 0xab03;
    public const ulong NBD_CLEAR_SOCK = 0xab04;
    public const ulong NBD_CLEAR_QUE = 0xab05;
    public const ulong NBD_SET_SIZE_BLOCKS = 0xab07;
    public const ulong NBD_DISCONNECT = 0xab08;
    public const ulong NBD_SET_TIMEOUT = 0xab09;
    public const ulong NBD_SET_FLAGS = 0xab0a;

    /// <summary>The transmission flags the kernel driver knows (HAS_FLAGS, READ_ONLY,
    /// SEND_FLUSH, SEND_FUA, SEND_TRIM, CAN_MULTI_CONN); it sends no other commands.</summary>
    public const ushort KnownFlags = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x100;

    /// <summary>The largest request the driver sends: its queue's max_hw_sectors (65536
    /// sectors of 512 bytes).</summary>
    public const uint MaxRequestBytes = 32u << 20;

    /// <summary>How long the kernel waits for a reply before it fails the request (SPDK's
    /// NBD_IO_TIMEOUT_S).</summary>
    public const ulong IoTimeoutSeconds = 60;
}
