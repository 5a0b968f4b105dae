using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_env_opts, as the header lays it out.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbEnvOpts
{
    public nuint OptsSize;
    public byte* Name;
    public byte* CoreMask;
    public ulong DmaPoolSize;
    public ulong DmaPoolMaxSize;
    public int HugePages;
    public int IovaMode;
    public int LogLevel;
    public int ReactorSpinUs;
    public uint ThreadMsgRingSize;
}
