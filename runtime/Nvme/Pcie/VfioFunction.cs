using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Pcie;

/// <summary>A PCI function through vfio-pci: the device fd from its IOMMU group, BAR0 and
/// configuration space as regions of that fd.</summary>
internal sealed unsafe class VfioFunction : PciFunction
{
    private readonly int _group;
    private int _deviceFd = -1;
    private ulong _configOffset;

    private VfioFunction(string address, int group) : base(address) => _group = group;

    public override string Mode => "vfio";
    public override IovaMode IovaMode => IovaMode.Va;

    public static int Open(string address, out PciFunction? function)
    {
        function = null;
        string groupName = Sysfs.LinkName(Sysfs.DevicePath(address) + "/iommu_group");
        if (!int.TryParse(groupName, out int group))
        {
            return LastError.Set(Errno.ENODEV,
                $"{address} has no IOMMU group (no IOMMU, or VFIO no-IOMMU mode is not supported)");
        }
        int rc = VfioContainer.AcquireGroup(group, out int groupFd);
        if (rc != 0)
        {
            return rc;
        }
        var f = new VfioFunction(address, group);
        byte[] name = Encoding.ASCII.GetBytes(address + "\0");
        fixed (byte* p = name)
        {
            f._deviceFd = Libc.ioctl(groupFd, VfioAbi.VFIO_GROUP_GET_DEVICE_FD, p);
        }
        if (f._deviceFd < 0)
        {
            int e = Libc.LastErrno;
            VfioContainer.ReleaseGroup(group);
            return LastError.Set(e == Errno.EBUSY ? Errno.EBUSY : Errno.ENODEV,
                $"VFIO_GROUP_GET_DEVICE_FD {address}: {Libc.StrError(e)}" +
                $"{(e == Errno.EBUSY ? " (already open: attached twice?)" : "")}");
        }
        if ((rc = f.MapBar0()) != 0)
        {
            f.Dispose();
            return rc;
        }
        function = f;
        return 0;
    }

    private int MapBar0()
    {
        var bar = new VfioAbi.RegionInfo
        {
            Argsz = (uint)sizeof(VfioAbi.RegionInfo), Index = VfioAbi.VFIO_PCI_BAR0_REGION_INDEX,
        };
        var cfg = new VfioAbi.RegionInfo
        {
            Argsz = (uint)sizeof(VfioAbi.RegionInfo), Index = VfioAbi.VFIO_PCI_CONFIG_REGION_INDEX,
        };
        if (Libc.ioctl(_deviceFd, VfioAbi.VFIO_DEVICE_GET_REGION_INFO, &bar) != 0 ||
            Libc.ioctl(_deviceFd, VfioAbi.VFIO_DEVICE_GET_REGION_INFO, &cfg) != 0)
        {
            return LastError.Set(Errno.EIO, $"{Address}: VFIO_DEVICE_GET_REGION_INFO: {Libc.StrError(Libc.LastErrno)}");
        }
        _configOffset = cfg.Offset;
        if (bar.Size < 0x2000 || (bar.Flags & VfioAbi.VFIO_REGION_INFO_FLAG_MMAP) == 0)
        {
            return LastError.Set(Errno.ENODEV, $"{Address}: BAR0 ({bar.Size} bytes) is too small or cannot be mapped");
        }
        void* p = Libc.mmap(null, (nuint)bar.Size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, _deviceFd,
            (long)bar.Offset);
        if ((nint)p == Libc.MAP_FAILED)
        {
            return LastError.Set(Errno.EIO,
                $"{Address}: mmap of BAR0 ({bar.Size} bytes): {Libc.StrError(Libc.LastErrno)}");
        }
        Bar0 = (byte*)p;
        Bar0Size = (long)bar.Size;
        return 0;
    }

    public override int ReadConfig(int offset, void* buf, int len) =>
        Libc.pread(_deviceFd, buf, (nuint)len, (long)_configOffset + offset) == len ? 0 : -Errno.EIO;

    public override int WriteConfig(int offset, void* buf, int len) =>
        Libc.pwrite(_deviceFd, buf, (nuint)len, (long)_configOffset + offset) == len ? 0 : -Errno.EIO;

    public override void Dispose()
    {
        if (Bar0 != null)
        {
            Libc.munmap(Bar0, (nuint)Bar0Size);
            Bar0 = null;
        }
        if (_deviceFd >= 0)
        {
            Libc.close(_deviceFd);
            _deviceFd = -1;
            VfioContainer.ReleaseGroup(_group);
        }
    }
}
