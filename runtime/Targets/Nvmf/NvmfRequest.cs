using System.Runtime.InteropServices;
using NativeBdev.Interop;
using NativeBdev.Nvme;

namespace NativeBdev.Targets.Nvmf;

/// <summary>One command of a connection from capsule to response, in unmanaged memory so
/// its address is the bdev I/O's callback argument and its index the R2T's transfer tag.
/// Reused; never allocated per command.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmfRequest
{
    public const byte Free = 0;
    public const byte ReceivingData = 1;  // in-capsule or H2CData data is coming in
    public const byte AwaitingR2TData = 2;
    public const byte Executing = 3;      // at the bdev, or an AER waiting for an event
    public const byte Sending = 4;        // in the send queue
    public const byte AwaitingBuffers = 5; // a write's R2T or a read waits for chunks
    public const int HeaderCapacity = 32;
    public const int TailCapacity = 32;

    public NvmeCommand Cmd;
    public int Index;
    public int Next;             // the send queue's link
    public uint Length;          // the command's data bytes (its SGL length)
    public uint Received;        // of a host-to-controller transfer
    public uint DataCrc;         // data digest of the PDU being received, running
    public uint Dw0;
    public ushort Status;        // the CQE's status field without the phase bit
    public byte Stage;
    public byte Queued;          // on an NvmfRequestQueue (asserted: one at a time)
    public byte KeepAfterSend;   // an R2T went out: the request waits for its data
    public byte Outstanding;     // bdev I/Os still running (Dataset Management: one per range)
    public int HeaderBytes;      // first in the send: a C2HData, R2T or response header
    public uint DataBytes;       // then this much of the request's data
    public int TailBytes;        // then the data digest and/or the response capsule
    public int ChunkCount;
    public nint Owner;           // the connection's GCHandle
    public Iovec* Iov;           // ChunkCount entries over the connection's DMA chunks
    public int* Chunks;          // the chunk numbers behind Iov
    public Iovec CompareIov;     // Compare: the bdev's data, read into DMA memory of its own
    public fixed byte Header[HeaderCapacity];
    public fixed byte Tail[TailCapacity];
}

/// <summary>Which way a command's data goes: the low two bits of its opcode (of the
/// fabrics command type for opcode 7Fh): 01b host to controller, 10b controller to host.</summary>
internal static class NvmfCommandDirection
{
    public const byte FabricsOpcode = 0x7F;

    public static int Of(in NvmeCommand cmd) => (cmd.Opcode == FabricsOpcode ? (byte)cmd.Nsid : cmd.Opcode) & 3;
}
