using System.Runtime.InteropServices;

namespace NativeBdev.Nvme.Pcie;

/// <summary>Per-command state: which request a command id belongs to, its PRP list page
/// and when it was submitted (for the timeout scan). One per slot of the queue.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmeTracker
{
    public void* Request;        // the driver's request (an NvmeRequest, or null on the admin queue)
    public ulong* PrpList;       // one page of PRP entries (or DSM ranges), DMA memory
    public ulong PrpListIova;
    public long SubmitTicks;
    public long AbortTicks;      // when an Abort was sent for it (0 = none)
    public int NextFree;
    public ushort Cid;
    public byte Active;
    public byte Reserved;
}
