using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_env_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NbEnvInfo
{
    public nuint InfoSize;
    public ulong DmaPoolSize;
    public ulong DmaPoolUsed;
    public int HugePages;
    public int Pinned;
    public int IovaMode;
    public uint CoreCount;
    public ulong InitNs;
}
