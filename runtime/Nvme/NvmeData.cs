using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>What a command moves: nothing, a flat buffer, a range of an iovec list, or a
/// small payload (a deallocate range) the transport places in memory of its own.</summary>
internal unsafe struct NvmeData
{
    public Iovec* Iovs;
    public int IovCount;
    public ulong Start;
    public ulong Length;
    public byte* Buffer;
    public ulong* Inline;   // InlineLength bytes to carry (copied at submission)
    public int InlineLength;

    public static NvmeData None => default;

    public static NvmeData Flat(byte* p, ulong length) => new() { Buffer = p, Length = length };

    public static NvmeData Range(Iovec* iovs, int count, ulong start, ulong length) =>
        new() { Iovs = iovs, IovCount = count, Start = start, Length = length };
}
