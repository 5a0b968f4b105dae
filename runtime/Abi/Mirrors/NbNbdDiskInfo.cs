using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_nbd_disk_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbNbdDiskInfo
{
    public fixed byte NbdDevice[256];
    public fixed byte BdevName[256];
}
