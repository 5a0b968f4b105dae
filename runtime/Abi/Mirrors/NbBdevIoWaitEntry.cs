using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_bdev_io_wait_entry.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NbBdevIoWaitEntry
{
    public nint Bdev;
    public nint CbFn;
    public nint CbArg;
}
