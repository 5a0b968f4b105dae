using System.Runtime.InteropServices;

namespace NativeBdev.Nvme;

/// <summary>A submission queue entry (NVMe base specification, figure "Common Command
/// Format"): 64 bytes, the layout of SPDK's struct spdk_nvme_cmd and the header's
/// struct nb_nvme_cmd.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct NvmeCommand
{
    public byte Opcode;
    public byte Flags;      // FUSE (1:0), PSDT (7:6): 0 = PRPs
    public ushort Cid;
    public uint Nsid;
    public uint Cdw2;
    public uint Cdw3;
    public ulong Mptr;
    public ulong Prp1;
    public ulong Prp2;
    public uint Cdw10;
    public uint Cdw11;
    public uint Cdw12;
    public uint Cdw13;
    public uint Cdw14;
    public uint Cdw15;
}
