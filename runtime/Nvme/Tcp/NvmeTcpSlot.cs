using System.Runtime.InteropServices;

namespace NativeBdev.Nvme.Tcp;

/// <summary>Per-command state of an NVMe/TCP queue, one per command id, in native memory
/// (stable addresses: an in-capsule payload is sent from here). The data description is
/// the driver's, kept until the command completes: in-capsule data, H2CData and C2HData
/// are sent from and received into the caller's buffers without a copy of our own.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmeTcpSlot
{
    public NvmeCommand Cmd;          // the SQE as sent (cid and SGL filled in)
    public NvmeData Data;
    public NvmeCompletion Resp;      // a response that waits for this command's sends to finish
    public void* Request;
    public long SubmitTicks;
    public long AbortTicks;
    public uint DataLength;
    public uint R2TOffset;           // the transfer the controller asked for last (R2T)
    public uint R2TLength;
    public uint R2TSent;             // bytes of it already placed in H2CData PDUs
    public int TxBusy;               // send jobs queued or not yet handed to the kernel
    public int NextFree;
    public ushort Ttag;
    public byte Active;
    public byte Direction;           // 0 none, 1 host to controller, 2 controller to host
    public byte InCapsule;
    public byte RespPending;
    public byte DataError;           // a C2HData digest did not match: the command fails
}

/// <summary>One piece of the send stream: bytes in the header arena or in a caller's
/// buffer. A zero-length piece with <see cref="DoneCid"/> set marks the end of one send
/// job of that command.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmeTcpSegment
{
    public byte* Ptr;
    public int Length;
    public int ArenaRelease;         // arena bytes freed once this piece is sent
    public int DoneCid;              // cid + 1 of the command whose job ends here, or 0
}
