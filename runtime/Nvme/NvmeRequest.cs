using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

internal enum NvmeRequestKind : byte
{
    Read,
    Write,
    WriteZeroes,
    Deallocate,
    Flush,
    IoPassthru,
}

/// <summary>One request to the NVMe driver (SPDK's nvme_request), in memory the caller
/// owns — the bdev module keeps it in its I/O's driver context — so the driver allocates
/// nothing per I/O and knows nothing of the bdev layer. The driver splits it into commands
/// at the controller's maximum transfer, queues what does not fit the queue, resubmits it
/// after a reset, and calls <see cref="Callback"/> once, with <see cref="Status"/> and the
/// NVMe status fields set.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmeRequest : IQueueable<NvmeRequest>
{
    public NvmeRequestKind Kind;
    public byte Queue;          // the driver queue holding it (0: none)
    public byte Started;        // the command without a data range was submitted
    public byte BlockShift;     // log2(BlockSize)
    public uint Nsid;
    public uint BlockSize;
    public int Children;        // commands in flight
    public int Status;          // the first error: 0 or -errno
    public uint Cdw0;           // completion details of the (last) command
    public ushort Sct;
    public ushort Sc;
    public ulong Lba;
    public ulong NextByte;      // the first byte no command has been built for yet
    public ulong TotalBytes;    // what the request covers (0: one command without a data range)
    public Iovec* Iovs;
    public int IovCount;
    public NvmeCommand* Command; // IoPassthru: the caller's command (copied into each submission)
    public NvmeRequest* Next;
    public delegate*<NvmeRequest*, void> Callback;
    public void* Context;       // the caller's: what the callback needs to find its own state

    public static NvmeRequest** Link(NvmeRequest* r) => &r->Next;

    public static byte* QueueName(NvmeRequest* r) => &r->Queue;

    /// <summary>Sets up a request before <see cref="NvmeIoQpair.Submit"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Init(NvmeRequestKind kind, uint nsid, uint blockSize, ulong lba, ulong blocks, Iovec* iovs,
        int iovCount, delegate*<NvmeRequest*, void> callback, void* context)
    {
        Kind = kind;
        Nsid = nsid;
        Invariant.Assert(System.Numerics.BitOperations.IsPow2(blockSize), "a block size that is not a power of two");
        BlockSize = blockSize;
        BlockShift = (byte)System.Numerics.BitOperations.TrailingZeroCount(blockSize);
        Lba = lba;
        TotalBytes = kind is NvmeRequestKind.Flush or NvmeRequestKind.IoPassthru ? 0 : blocks * blockSize;
        Iovs = iovs;
        IovCount = iovCount;
        Command = null;
        Callback = callback;
        Context = context;
        NextByte = 0;
        Children = 0;
        Status = 0;
        Started = 0;
        Cdw0 = 0;
        Sct = Sc = 0;
        Invariant.Assert(Queue == 0, "a request set up while it is still on a driver queue");
    }

    public readonly bool FullyBuilt
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TotalBytes == 0 ? Started != 0 : NextByte >= TotalBytes;
    }
}
