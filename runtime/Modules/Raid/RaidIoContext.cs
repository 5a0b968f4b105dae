using System.Runtime.InteropServices;

namespace NativeBdev.Modules.Raid;

/// <summary>A raid I/O's state in its <see cref="Bdev.BdevIo"/>'s driver context: how far the
/// split has got, its children in flight, the first failure, and room for the iovecs of the
/// pieces of a vectored I/O (reused once every child of a batch is back).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RaidIoContext
{
    public const int IovSlots = 8;

    public ulong NextBlock;  // blocks of the parent given to children so far
    public int InFlight;     // children not yet back
    public int Status;       // the first failure, 0 while none
    public int IovUsed;      // entries of Iovs held by children in flight
    public int Pad;
    public fixed byte IovBytes[IovSlots * 16]; // Iovec[IovSlots]: 16 bytes each on x64
}
