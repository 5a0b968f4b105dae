using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_bdev_health.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbBdevHealth
{
    public nuint HealthSize;
    public int Failed;
    public int Reserved;
    public ulong ReadErrors;
    public ulong WriteErrors;
    public ulong OtherErrors;
    public fixed byte Reason[256];
}
