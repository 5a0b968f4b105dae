using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_nexus_rebuild_record.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbNexusRebuildRecord
{
    public fixed byte Child[256];
    public fixed byte Source[256];
    public int State;
    public int Partial;
    public ulong BlocksTotal;
    public ulong BlocksCopied;
    public ulong StartUs;
    public ulong EndUs;
}
