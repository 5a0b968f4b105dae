using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_bdev_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbBdevInfo
{
    public nuint InfoSize;
    public fixed byte Name[256];
    public fixed byte Uuid[40];
    public fixed byte ProductName[64];
    public fixed byte Driver[32];
    public uint BlockSize;
    public uint RequiredAlignment;
    public ulong NumBlocks;
    public ulong SizeBytes;
    public uint OptimalIoBoundary;
    public int WriteCache;
    public uint IoTypes;
    public int Claimed;
    public int OpenDescriptors;
    public int Reserved;
}
