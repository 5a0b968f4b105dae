using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>struct nb_bdev_media_event.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NbBdevMediaEvent
{
    public ulong OffsetBlocks;
    public ulong NumBlocks;
}
