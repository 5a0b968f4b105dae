using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>One I/O in flight: SPDK's spdk_bdev_io. Lives in unmanaged memory, in the
/// submitting thread's <see cref="BdevIoPool"/>, so that its address can be handed to C
/// callbacks and nothing is allocated per I/O. Each element is followed by the backend's
/// own per-I/O state (<see cref="DriverContext"/>), sized by the largest
/// <see cref="IBdevModule.IoContextSize"/>, as SPDK sizes the tail of spdk_bdev_io by its
/// modules' get_ctx_size.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BdevIo : IQueueable<BdevIo>
{
    public BdevIoType Type;
    public byte State;          // Free / Submitted / Completing, for assertions and ABI checks
    public IoQueueName Queue;   // the queue holding it, None when on none
    public byte Flags;
    public int Status;          // 0 or a negative errno, set at completion
    public BdevIo* Next;        // intrusive link of the queue named by Queue
    public ulong OffsetBlocks;
    public ulong NumBlocks;
    public Iovec* Iovs;         // the caller's iovec array, or &InlineIov
    public int IovCount;
    public uint NvmeCdw0;       // NVMe completion details, when the backend has them
    public ushort NvmeSct;
    public ushort NvmeSc;
    public int Pad;
    public Iovec InlineIov;
    public nint Callback;       // void cb(struct nb_bdev_io *, int status, void *arg), C calling convention;
                                // 0: a virtual bdev's child I/O (BdevChannel.SubmitChild)
    public nint CallbackArg;    // the callback's arg; of a child I/O, its parent BdevIo*
    public long SubmitTicks;
    public void* Channel;       // the submitting BdevChannel's GCHandle
    public long DescId;         // the descriptor's Id: per-descriptor timeouts
    public long DelayUntil;     // fault injection: when a delayed I/O moves on
    public fixed byte NvmeCmd[64]; // NVMe passthrough: the caller's command (struct nb_nvme_cmd)

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

    public static BdevIo** Link(BdevIo* io) => &io->Next;

    public static byte* QueueName(BdevIo* io) => (byte*)&io->Queue;

    /// <summary>The backend's per-I/O state: the bytes right after the I/O, as many as the
    /// largest module context asked for (zeroed when the pool is made, not per I/O).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* DriverContext(BdevIo* io) => (byte*)(io + 1);

    /// <summary>The NVMe completion of an I/O (spdk_bdev_io_get_nvme_status): what the backend
    /// recorded; a failure without an NVMe status of its own (a backend that is not NVMe, an
    /// error of the layer) reads as generic status 0x06, internal device error.</summary>
    public static void NvmeStatus(BdevIo* io, out uint cdw0, out int sct, out int sc)
    {
        cdw0 = io->NvmeCdw0;
        sct = io->NvmeSct;
        sc = io->NvmeSc;
        if (io->Status != 0 && sct == 0 && sc == 0)
        {
            sct = 0;    // generic command status
            sc = 0x06;  // internal device error
        }
    }

    /// <summary>The I/O's completion callback, as every caller gives it: C hosts a C
    /// function, the runtime's own callers an <c>[UnmanagedCallersOnly]</c> method.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InvokeCallback(BdevIo* io) =>
        ((delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)io->Callback)(io, io->Status, (void*)io->CallbackArg);
}
