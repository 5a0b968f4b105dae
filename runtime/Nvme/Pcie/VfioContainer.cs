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
                    "VFIO maps the DMA pool with IOVA = virtual address, but the environment uses physical addresses " +
                    "(iova_mode PA, or a UIO device is attached)");
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
                    $"cannot open {path}: {Libc.StrError(e)}" +
                    $"{(e == Errno.EACCES ? " (VFIO needs root or ownership of the group's device file)"
                        : e == Errno.EBUSY ? " (another process owns the group)" : "")}");
            }
            var status = new VfioAbi.GroupStatus { Argsz = (uint)sizeof(VfioAbi.GroupStatus) };
            if (Libc.ioctl(fd, VfioAbi.VFIO_GROUP_GET_STATUS, &status) != 0 ||
                (status.Flags & VfioAbi.VFIO_GROUP_FLAGS_VIABLE) == 0)
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
            return LastError.Set(Errno.ENOTSUP,
                "VFIO has no type-1 IOMMU (no IOMMU enabled? boot with intel_iommu=on or amd_iommu=on)");
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
        pool.RegionRemoved = r => { lock (s_lock) { Unmap(r); } };
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
            return LastError.Set(e,
                $"VFIO_IOMMU_MAP_DMA of {r.Size >> 20} MiB at IOVA 0x{(ulong)r.Base:x}: {Libc.StrError(e)}" +
                (e == Errno.EINVAL || e == Errno.EFAULT
                    ? " (the IOMMU's address width may be smaller than the process's addresses)"
                    : e == Errno.ENOMEM ? " (locked-memory limit: raise RLIMIT_MEMLOCK)" : ""));
        }
        s_mapped.Add(r);
        return 0;
    }

    private static void UnmapAll()
    {
        foreach (DmaRegion r in s_mapped)
        {
            UnmapFromIommu(r);
        }
        s_mapped.Clear();
    }

    /// <summary>A region the DMA pool gives back (it holds no allocation) leaves the IOMMU first.</summary>
    private static void Unmap(DmaRegion r)
    {
        if (s_fd >= 0 && s_mapped.Remove(r))
        {
            UnmapFromIommu(r);
        }
    }

    private static void UnmapFromIommu(DmaRegion r)
    {
        var unmap = new VfioAbi.DmaUnmap
        {
            Argsz = (uint)sizeof(VfioAbi.DmaUnmap), Iova = (ulong)r.Base, Size = (ulong)r.Size,
        };
        Libc.ioctl(s_fd, VfioAbi.VFIO_IOMMU_UNMAP_DMA, &unmap);
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
            pool.RegionRemoved = null;
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
