using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_fault_rule_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbFaultRuleInfo
{
    public int Id;
    public int Reserved;
    public ulong Matched;
    public ulong Fired;
    public fixed byte Bdev[256];
    public fixed byte Uri[512];
}
