using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>What a command moves: nothing, a flat buffer, a range of an iovec list, or a
/// small payload (a deallocate range) the transport places in memory of its own. The payload
/// travels by value, so building a command needs no stack buffer (which would put a stack
/// cookie on the I/O path).</summary>
internal unsafe struct NvmeData
{
    public Iovec* Iovs;
    public int IovCount;
    public ulong Start;
    public ulong Length;
    public byte* Buffer;
    public ulong Inline0;   // InlineLength (0 or 16) bytes to carry, copied at submission
    public ulong Inline1;
    public int InlineLength;

    public static NvmeData None => default;

    public static NvmeData Flat(byte* p, ulong length) => new() { Buffer = p, Length = length };
}
