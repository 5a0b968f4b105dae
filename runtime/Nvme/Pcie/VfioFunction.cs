using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Pcie;

/// <summary>The process's VFIO container: one type-1 IOMMU domain into which every group is
/// added and the whole DMA pool is mapped with IOVA = virtual address (so a buffer's device
/// address costs nothing to compute). Regions the pool adds later are mapped as they come.</summary>
internal static unsafe class VfioContainer
{
    private static readonly object s_lock = new();
    private static int s_fd = -1;
    private static bool s_iommuSet;
    private static readonly Dictionary<int, (int Fd, int Users)> s_groups = new();
    private static readonly List<DmaRegion> s_mapped = new();

    /// <summary>Opens (or shares) the group's fd, attached to the container.</summary>
    public static int AcquireGroup(int group, out int groupFd)
    {
        groupFd = -1;
        lock (s_lock)
        {
            if (s_groups.TryGetValue(group, out var g))
            {
                s_groups[group] = (g.Fd, g.Users + 1);
                groupFd = g.Fd;
                return 0;
            }
            DmaPool? pool = NbEnvironment.Dma;
            if (pool == null)
            {
                return NbEnvironment.NotInitialized();
            }
            if (pool.IovaMode != IovaMode.Va)
            {
                return LastError.Set(Errno.EINVAL,
                    "VFIO maps the DMA pool with IOVA = virtual address, but the environment uses physical addresses (iova_mode PA, or a UIO device is attached)");
            }
            int rc;
            if (s_fd < 0 && (rc = OpenContainer()) != 0)
            {
                return rc;
            }
            string path = "/dev/vfio/" + group;
            int fd = OpenPath(path);
            if (fd < 0)
            {
                int e = Libc.LastErrno;
                CloseContainerIfUnused();
                return LastError.Set(e == Errno.ENOENT ? Errno.ENODEV : e,
                    $"cannot open {path}: {Libc.StrError(e)}{(e == Errno.EACCES ? " (VFIO needs root or ownership of the group's device file)" : e == Errno.EBUSY ? " (another process owns the group)" : "")}");
            }
            var status = new VfioAbi.GroupStatus { Argsz = (uint)sizeof(VfioAbi.GroupStatus) };
            if (Libc.ioctl(fd, VfioAbi.VFIO_GROUP_GET_STATUS, &status) != 0 || (status.Flags & VfioAbi.VFIO_GROUP_FLAGS_VIABLE) == 0)
            {
                Libc.close(fd);
                CloseContainerIfUnused();
                return LastError.Set(Errno.EPERM,
                    $"IOMMU group {group} is not viable: every device in it must be bound to vfio-pci (or no driver)");
            }
            int container = s_fd;
            if (Libc.ioctl(fd, VfioAbi.VFIO_GROUP_SET_CONTAINER, &container) != 0)
            {
                int e = Libc.LastErrno;
                Libc.close(fd);
                CloseContainerIfUnused();
                return LastError.Set(e, $"VFIO_GROUP_SET_CONTAINER for group {group}: {Libc.StrError(e)}");
            }
            if (!s_iommuSet)
            {
                if ((rc = SetIommuAndMap(pool)) != 0)
                {
                    Libc.ioctl(fd, VfioAbi.VFIO_GROUP_UNSET_CONTAINER, null);
                    Libc.close(fd);
                    CloseContainerIfUnused();
                    return rc;
                }
            }
            s_groups[group] = (fd, 1);
            groupFd = fd;
            return 0;
        }
    }

    public static void ReleaseGroup(int group)
    {
        lock (s_lock)
        {
            if (!s_groups.TryGetValue(group, out var g))
            {
                return;
            }
            if (g.Users > 1)
            {
                s_groups[group] = (g.Fd, g.Users - 1);
                return;
            }
            s_groups.Remove(group);
            Libc.ioctl(g.Fd, VfioAbi.VFIO_GROUP_UNSET_CONTAINER, null);
            Libc.close(g.Fd);
            CloseContainerIfUnused();
        }
    }

    private static int OpenContainer()
    {
        int fd = OpenPath("/dev/vfio/vfio");
        if (fd < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e == Errno.ENOENT ? Errno.ENODEV : e,
                $"cannot open /dev/vfio/vfio: {Libc.StrError(e)} (is the vfio module loaded?)");
        }
        if (Libc.ioctl(fd, VfioAbi.VFIO_GET_API_VERSION, null) != VfioAbi.VFIO_API_VERSION)
        {
            Libc.close(fd);
            return LastError.Set(Errno.ENOTSUP, "unknown VFIO API version");
        }
        if (Libc.ioctl(fd, VfioAbi.VFIO_CHECK_EXTENSION, (void*)VfioAbi.VFIO_TYPE1v2_IOMMU) <= 0 &&
            Libc.ioctl(fd, VfioAbi.VFIO_CHECK_EXTENSION, (void*)VfioAbi.VFIO_TYPE1_IOMMU) <= 0)
        {
            Libc.close(fd);
            return LastError.Set(Errno.ENOTSUP, "VFIO has no type-1 IOMMU (no IOMMU enabled? boot with intel_iommu=on or amd_iommu=on)");
        }
        s_fd = fd;
        return 0;
    }

    private static int SetIommuAndMap(DmaPool pool)
    {
        int type = Libc.ioctl(s_fd, VfioAbi.VFIO_CHECK_EXTENSION, (void*)VfioAbi.VFIO_TYPE1v2_IOMMU) > 0
            ? VfioAbi.VFIO_TYPE1v2_IOMMU : VfioAbi.VFIO_TYPE1_IOMMU;
        if (Libc.ioctl(s_fd, VfioAbi.VFIO_SET_IOMMU, (void*)type) != 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"VFIO_SET_IOMMU: {Libc.StrError(e)}");
        }
        s_iommuSet = true;
        foreach (DmaRegion r in pool.Regions())
        {
            int rc = Map(r);
            if (rc != 0)
            {
                UnmapAll();
                return rc;
            }
        }
        pool.RegionAdded = r => { lock (s_lock) { return s_fd < 0 ? 0 : Map(r); } };
        return 0;
    }

    private static int Map(DmaRegion r)
    {
        var map = new VfioAbi.DmaMap
        {
            Argsz = (uint)sizeof(VfioAbi.DmaMap),
            Flags = VfioAbi.VFIO_DMA_MAP_FLAG_READ | VfioAbi.VFIO_DMA_MAP_FLAG_WRITE,
            Vaddr = (ulong)r.Base,
            Iova = (ulong)r.Base,
            Size = (ulong)r.Size,
        };
        if (Libc.ioctl(s_fd, VfioAbi.VFIO_IOMMU_MAP_DMA, &map) != 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"VFIO_IOMMU_MAP_DMA of {r.Size >> 20} MiB at IOVA 0x{(ulong)r.Base:x}: {Libc.StrError(e)}" +
                (e == Errno.EINVAL || e == Errno.EFAULT ? " (the IOMMU's address width may be smaller than the process's addresses)" :
                 e == Errno.ENOMEM ? " (locked-memory limit: raise RLIMIT_MEMLOCK)" : ""));
        }
        s_mapped.Add(r);
        return 0;
    }

    private static void UnmapAll()
    {
        foreach (DmaRegion r in s_mapped)
        {
            var unmap = new VfioAbi.DmaUnmap { Argsz = (uint)sizeof(VfioAbi.DmaUnmap), Iova = (ulong)r.Base, Size = (ulong)r.Size };
            Libc.ioctl(s_fd, VfioAbi.VFIO_IOMMU_UNMAP_DMA, &unmap);
        }
        s_mapped.Clear();
    }

    private static void CloseContainerIfUnused()
    {
        if (s_groups.Count > 0 || s_fd < 0)
        {
            return;
        }
        UnmapAll();
        if (NbEnvironment.Dma is { } pool)
        {
            pool.RegionAdded = null;
        }
        Libc.close(s_fd);
        s_fd = -1;
        s_iommuSet = false;
    }

    internal static int OpenPath(string path)
    {
        byte[] b = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = b)
        {
            return Libc.open(p, Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        }
    }
}

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
            return LastError.Set(Errno.ENODEV, $"{address} has no IOMMU group (no IOMMU, or VFIO no-IOMMU mode is not supported)");
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
                $"VFIO_GROUP_GET_DEVICE_FD {address}: {Libc.StrError(e)}{(e == Errno.EBUSY ? " (already open: attached twice?)" : "")}");
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
        var bar = new VfioAbi.RegionInfo { Argsz = (uint)sizeof(VfioAbi.RegionInfo), Index = VfioAbi.VFIO_PCI_BAR0_REGION_INDEX };
        var cfg = new VfioAbi.RegionInfo { Argsz = (uint)sizeof(VfioAbi.RegionInfo), Index = VfioAbi.VFIO_PCI_CONFIG_REGION_INDEX };
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
        void* p = Libc.mmap(null, (nuint)bar.Size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, _deviceFd, (long)bar.Offset);
        if ((nint)p == Libc.MAP_FAILED)
        {
            return LastError.Set(Errno.EIO, $"{Address}: mmap of BAR0 ({bar.Size} bytes): {Libc.StrError(Libc.LastErrno)}");
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

/// <summary>A PCI function through uio_pci_generic: BAR0 mapped from sysfs's resource0,
/// configuration space through sysfs's config file, device addresses physical (there is no
/// IOMMU between the device and memory), so the DMA pool switches to physical addresses.</summary>
internal sealed unsafe class UioFunction : PciFunction
{
    private int _configFd = -1;
    private int _uioFd = -1;

    private UioFunction(string address) : base(address) { }

    public override string Mode => "uio";
    public override IovaMode IovaMode => IovaMode.Pa;

    public static int Open(string address, out PciFunction? function)
    {
        function = null;
        DmaPool? pool = NbEnvironment.Dma;
        if (pool == null)
        {
            return NbEnvironment.NotInitialized();
        }
        string dir = Sysfs.DevicePath(address);
        string[] uio;
        try
        {
            uio = Directory.Exists(dir + "/uio") ? Directory.GetDirectories(dir + "/uio") : Array.Empty<string>();
        }
        catch (Exception)
        {
            uio = Array.Empty<string>();
        }
        if (uio.Length == 0)
        {
            return LastError.Set(Errno.ENODEV, $"{address} has no uio device (is uio_pci_generic bound to it?)");
        }
        var f = new UioFunction(address);
        // Holding /dev/uioN open claims the device against a second user.
        f._uioFd = VfioContainer.OpenPath("/dev/" + Path.GetFileName(uio[0]));
        if (f._uioFd < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e == Errno.ENOENT ? Errno.ENODEV : e,
                $"cannot open /dev/{Path.GetFileName(uio[0])}: {Libc.StrError(e)}{(e == Errno.EACCES ? " (UIO needs root)" : "")}");
        }
        int rc = pool.UsePhysicalAddresses();
        if (rc != 0)
        {
            f.Dispose();
            return rc;
        }
        f._configFd = VfioContainer.OpenPath(dir + "/config");
        int res = VfioContainer.OpenPath(dir + "/resource0");
        if (f._configFd < 0 || res < 0)
        {
            int e = Libc.LastErrno;
            if (res >= 0)
            {
                Libc.close(res);
            }
            f.Dispose();
            return LastError.Set(e, $"cannot open {dir}/config or resource0: {Libc.StrError(e)} (UIO needs root)");
        }
        Libc.Stat st;
        long size = Libc.fstat(res, &st) == 0 ? st.Size : 0;
        void* p = size >= 0x2000 ? Libc.mmap(null, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, res, 0) : (void*)Libc.MAP_FAILED;
        int err = Libc.LastErrno;
        Libc.close(res);
        if ((nint)p == Libc.MAP_FAILED)
        {
            f.Dispose();
            return LastError.Set(Errno.EIO, $"{address}: mmap of resource0 ({size} bytes): {Libc.StrError(err)}");
        }
        f.Bar0 = (byte*)p;
        f.Bar0Size = size;
        function = f;
        return 0;
    }

    public override int ReadConfig(int offset, void* buf, int len) =>
        Libc.pread(_configFd, buf, (nuint)len, offset) == len ? 0 : -Errno.EIO;

    public override int WriteConfig(int offset, void* buf, int len) =>
        Libc.pwrite(_configFd, buf, (nuint)len, offset) == len ? 0 : -Errno.EIO;

    public override void Dispose()
    {
        if (Bar0 != null)
        {
            Libc.munmap(Bar0, (nuint)Bar0Size);
            Bar0 = null;
        }
        if (_configFd >= 0)
        {
            Libc.close(_configFd);
            _configFd = -1;
        }
        if (_uioFd >= 0)
        {
            Libc.close(_uioFd);
            _uioFd = -1;
        }
    }
}
