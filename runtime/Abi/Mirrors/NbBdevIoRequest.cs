using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>struct nb_bdev_io_request.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbBdevIoRequest
{
    public int IoType;
    public int IovCount;
    public void* Buf;
    public Iovec* Iov;
    public ulong OffsetBlocks;
    public ulong NumBlocks;
    public nint Callback;
    public void* CallbackArg;
}
