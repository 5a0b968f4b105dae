using System.Runtime.InteropServices;

namespace NativeBdev.Interop;

/// <summary>The VFIO UAPI (linux/vfio.h) the PCIe driver uses: container, group, device,
/// region info and type-1 IOMMU DMA mapping. Request numbers are _IO(';', 100 + n).</summary>
internal static class VfioAbi
{
    private const ulong Base = (0x3BUL << 8) | 100;
    public const ulong VFIO_GET_API_VERSION = Base + 0;
    public const ulong VFIO_CHECK_EXTENSION = Base + 1;
    public const ulong VFIO_SET_IOMMU = Base + 2;
    public const ulong VFIO_GROUP_GET_STATUS = Base + 3;
    public const ulong VFIO_GROUP_SET_CONTAINER = Base + 4;
    public const ulong VFIO_GROUP_UNSET_CONTAINER = Base + 5;
    public const ulong VFIO_GROUP_GET_DEVICE_FD = Base + 6;
    public const ulong VFIO_DEVICE_GET_INFO = Base + 7;
    public const ulong VFIO_DEVICE_GET_REGION_INFO = Base + 8;
    public const ulong VFIO_DEVICE_RESET = Base + 11;
    public const ulong VFIO_IOMMU_MAP_DMA = Base + 13;
    public const ulong VFIO_IOMMU_UNMAP_DMA = Base + 14;

    public const int VFIO_API_VERSION = 0;
    public const int VFIO_TYPE1_IOMMU = 1;
    public const int VFIO_TYPE1v2_IOMMU = 3;
    public const uint VFIO_GROUP_FLAGS_VIABLE = 1;
    public const uint VFIO_GROUP_FLAGS_CONTAINER_SET = 2;
    public const uint VFIO_DMA_MAP_FLAG_READ = 1;
    public const uint VFIO_DMA_MAP_FLAG_WRITE = 2;
    public const uint VFIO_REGION_INFO_FLAG_MMAP = 4;
    public const uint VFIO_PCI_BAR0_REGION_INDEX = 0;
    public const uint VFIO_PCI_CONFIG_REGION_INDEX = 7;

    [StructLayout(LayoutKind.Sequential)]
    public struct GroupStatus
    {
        public uint Argsz;
        public uint Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct RegionInfo
    {
        public uint Argsz;
        public uint Flags;
        public uint Index;
        public uint CapOffset;
        public ulong Size;
        public ulong Offset;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct DmaMap
    {
        public uint Argsz;
        public uint Flags;
        public ulong Vaddr;
        public ulong Iova;
        public ulong Size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct DmaUnmap
    {
        public uint Argsz;
        public uint Flags;
        public ulong Iova;
        public ulong Size;
    }
}
