using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_nexus_child_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbNexusChildInfo
{
    public fixed byte Name[256];
    public int State;
    public int Reason;
    public int Synced;
    public int Rebuilding;
    public ulong RebuildBlocksTotal;
    public ulong RebuildBlocksDone;
}
