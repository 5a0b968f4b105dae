using System.Runtime.InteropServices;

namespace NativeBdev.Nvme;

/// <summary>A completion queue entry: 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct NvmeCompletion
{
    public uint Dw0;
    public uint Dw1;
    public ushort SqHead;
    public ushort SqId;
    public ushort Cid;
    public ushort Status;   // bit 0 phase, 8:1 SC, 11:9 SCT, 13:12 CRD, 14 M, 15 DNR

    public readonly int Phase => Status & 1;
    public readonly int Sc => (Status >> 1) & 0xFF;
    public readonly int Sct => (Status >> 9) & 0x7;
    public readonly bool Success => (Status & 0xFFFE) == 0;
    public readonly bool DoNotRetry => (Status & 0x8000) != 0;
}
