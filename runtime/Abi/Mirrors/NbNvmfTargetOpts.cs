using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_nvmf_target_opts, as the header lays it out.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NbNvmfTargetOpts
{
    public nuint OptsSize;
    public uint MaxQueueDepth;
    public uint MaxAqDepth;
    public uint MaxQpairsPerCtrlr;
    public uint InCapsuleDataSize;
    public uint MaxIoSize;
    public uint BufferSize;
    public byte C2HSuccess;
    public byte DigestsAllowed;
}
