using System.Runtime.InteropServices;
using NativeBdev.Interop;

namespace NativeBdev.Nbd;

/// <summary>One request of a connection from header to reply, in unmanaged memory so its
/// address is the bdev I/O's callback argument. Reused; never allocated per request.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbdSlot
{
    public const byte Free = 0;
    public const byte Receiving = 1; // a write's payload is coming in
    public const byte AtBdev = 2;
    public const byte Replying = 3;  // in the send queue
    public const int HeaderCapacity = 32;

    public ulong Cookie;
    public ulong Offset;
    public uint Length;
    public ushort Type;
    public ushort Flags;
    public uint Error;
    public int Index;
    public int Next;          // the send queue's link
    public int ChunkCount;
    public int HeaderBytes;
    public uint DataBytes;    // sent after the header: a successful read's data
    public byte Stage;
    public byte FlushAfter;   // FUA: 1 a flush follows the write before the reply, 2 it is under way
    public byte Queued;       // on an NbdSlotQueue (asserted: one at a time)
    public nint Owner;        // the connection's GCHandle
    public Iovec* Iov;        // ChunkCount entries over the connection's DMA chunks
    public int* Chunks;       // the chunk numbers behind Iov
    public fixed byte Header[HeaderCapacity];

    public readonly NbdRequest Request => new(Flags, Type, Cookie, Offset, Length);
}
