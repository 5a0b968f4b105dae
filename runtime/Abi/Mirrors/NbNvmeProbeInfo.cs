using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_nvme_probe_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbNvmeProbeInfo
{
    public fixed byte Traddr[16];
    public fixed byte Driver[32];
    public ushort VendorId;
    public ushort DeviceId;
    public int Attachable;
    public int Attached;
}
