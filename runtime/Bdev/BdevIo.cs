using System.Runtime.InteropServices;

namespace NativeBdev.Bdev;

/// <summary>I/O types, numbered as the C header's enum nb_bdev_io_type.</summary>
internal enum BdevIoType : byte
{
    Invalid = 0,
    Read = 1,
    Write = 2,
    Unmap = 3,
    Flush = 4,
    Reset = 5,
    WriteZeroes = 6,
    NvmeAdmin = 7,
    NvmeIo = 8,
    Count = 9,
}

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Iovec
{
    public byte* Base;
    public nuint Length;
}

/// <summary>One I/O in flight: SPDK's spdk_bdev_io. Lives in unmanaged memory, in a pool
/// owned by one channel, so that its address can be handed to C callbacks and nothing is
/// allocated per I/O. The tail (<see cref="Driver"/>) belongs to the backend for its own
/// per-I/O state, as SPDK sizes the tail of spdk_bdev_io by the module's context size.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BdevIo
{
    public const int DriverContextSize = 64;

    public BdevIoType Type;
    public byte State;         // Free / Submitted / Completing, for assertions and ABI checks
    public byte ManagedCallback;
    public byte Flags;
    public int Status;         // 0 or a negative errno, set at completion
    public int Index;          // position in the channel's pool
    public int Next;           // intrusive link: free list or completion queue (-1 = end)
    public ulong OffsetBlocks;
    public ulong NumBlocks;
    public Iovec* Iovs;        // the caller's iovec array, or &InlineIov
    public int IovCount;
    public uint NvmeCdw0;      // NVMe completion details, when the backend has them
    public ushort NvmeSct;
    public ushort NvmeSc;
    public int Pad;
    public Iovec InlineIov;
    public nint Callback;      // C: void cb(struct nb_bdev_io *, int status, void *arg)
    public nint CallbackArg;
    public long SubmitTicks;
    public void* Channel;      // the BdevChannel's GCHandle, for nb_bdev_io_* look-ups
    public nint Desc;          // the descriptor's handle: per-descriptor timeouts
    public long DelayUntil;    // fault injection: when a delayed I/O moves on
    public fixed byte NvmeCmd[64]; // NVMe passthrough: the caller's command (struct nb_nvme_cmd)
    public fixed byte Driver[DriverContextSize];

    // Flags
    public const byte FlagFaultApplied = 1;   // a rule has acted on this I/O: not again
    public const byte FlagDelayedSubmit = 2;  // held before the backend saw it
    public const byte FlagTimedOut = 4;       // the timeout callback has run for it
    public const byte FlagAbort = 8;          // complete it with -ETIMEDOUT where the layer holds it
    public const byte FlagInTimeoutCallback = 16; // a timeout callback is looking at it now

    public const byte StateFree = 0;
    public const byte StateSubmitted = 1;
    public const byte StateCompleting = 2;

    public readonly ulong Bytes(uint blockSize) => NumBlocks * blockSize;
}
