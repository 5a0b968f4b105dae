using System.Runtime.InteropServices;

namespace NativeBdev.Modules.Lvol;

/// <summary>An lvol I/O's state in its BdevIo's driver context: how far the split into
/// cluster-sized pieces has got, the children (and cluster allocations) not yet back, the first
/// failure, the room for the iovecs of the pieces of a vectored I/O, the cluster an allocation
/// (or release) request is for, where an unmap or write zeroes stands with its release, and the
/// read phase a read is counted under.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LvolIoContext
{
    public const int IovSlots = 8;

    /// <summary>Release: no request out; the piece's whole cluster is asked back (an allocator
    /// request that gives the cluster to the store); the store kept it (writes were in flight), so
    /// the piece zeroes it in place.</summary>
    public const int ReleaseNone = 0, ReleaseAsked = 1, ReleaseKept = 2;

    public ulong NextBlock;   // lvol blocks of the parent given to children so far
    public long Cluster;      // the logical cluster an allocation request names
    public int InFlight;      // children and allocation requests not yet back
    public int Status;        // the first failure, 0 while none
    public int IovUsed;       // entries of IovBytes held by children in flight
    public int Release;       // unmap / write zeroes: ReleaseNone, ReleaseAsked or ReleaseKept
    public int ReadPhase;     // a read: the phase it is counted under on its blob (LvolBlob.EnterRead)
    public fixed byte IovBytes[IovSlots * 16]; // Iovec[IovSlots]
}
