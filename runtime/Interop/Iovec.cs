using System.Runtime.InteropServices;

namespace NativeBdev.Interop;

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Iovec
{
    public byte* Base;
    public nuint Length;
}
