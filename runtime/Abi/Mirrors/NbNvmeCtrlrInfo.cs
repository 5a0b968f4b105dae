using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_nvme_ctrlr_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbNvmeCtrlrInfo
{
    public nuint InfoSize;
    public fixed byte Traddr[16];
    public fixed byte Mode[8];
    public fixed byte Model[48];
    public fixed byte Serial[24];
    public fixed byte Firmware[16];
    public fixed byte State[16];
    public uint Nsid;
    public uint NumNamespaces;
    public uint MaxTransferBytes;
    public uint IoQueues;
    public uint IoQueueEntries;
    public uint Reserved;
    public ulong Resets;
}
