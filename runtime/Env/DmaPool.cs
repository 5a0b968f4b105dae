using System;
using System.Collections.Generic;
using NativeBdev.Interop;

namespace NativeBdev.Env;

/// <summary>The DMA memory of the environment: a few large regions reserved at init
/// (hugepages when reserved, else pinned 4 KiB pages) from which spdk_dma_malloc-style
/// allocations are carved. Grows by whole regions when exhausted, up to a limit. Thread-safe
/// (one lock): allocation is a set-up path, not an I/O path.
///
/// Free space coalesces within a region (<see cref="DmaRegion.Free"/>), and across regions by
/// giving back grown regions that hold nothing: a region that empties is unmapped unless it is
/// the only empty one and no bigger than a growth step (kept, so an allocation that comes and
/// goes at the edge does not map and unmap each time), and an allocation that finds no room
/// and no headroom under the limit first unmaps every empty grown region, then maps one region
/// big enough. Without this, 256 x 1 MiB allocated and freed under a 256 MiB limit left sixteen
/// empty 16 MiB regions and a 64 MiB allocation failed. The first region, reserved at init,
/// stays.</summary>
internal sealed unsafe class DmaPool : IDisposable
{
    public const long DefaultRegionSize = 16L << 20;
    private readonly object _lock = new();
    private readonly List<DmaRegion> _regions = new();
    private readonly int _huge;
    private readonly long _growSize;
    private readonly long _maxSize;
    private bool _disposed;

    /// <summary>Called (under the pool's lock) for every new region, so a VFIO container can
    /// map it; a non-zero return refuses the region.</summary>
    public Func<DmaRegion, int>? RegionAdded;

    /// <summary>Called (under the pool's lock) for every region before it is unmapped, so a
    /// VFIO container can unmap it from the IOMMU.</summary>
    public Action<DmaRegion>? RegionRemoved;

    public IovaMode IovaMode { get; private set; }

    /// <summary>The regions as an immutable array, replaced whole when one is added, so the
    /// I/O path (a driver building PRPs) translates without the lock.</summary>
    private volatile DmaRegion[] _snapshot = Array.Empty<DmaRegion>();

    private DmaPool(int huge, long growSize, long maxSize, IovaMode mode)
    {
        _huge = huge;
        _growSize = growSize;
        _maxSize = maxSize;
        IovaMode = mode;
    }

    /// <param name="initialSize">bytes reserved now</param>
    /// <param name="huge">1 hugepages only, 0 4 KiB pages only, -1 hugepages if available</param>
    /// <param name="maxSize">total the pool may grow to</param>
    public static int Create(long initialSize, int huge, long maxSize, IovaMode mode, out DmaPool? pool)
    {
        pool = null;
        if (initialSize <= 0 || maxSize < initialSize)
        {
            return LastError.Set(Errno.EINVAL,
                $"DMA pool size {initialSize} must be positive and at most the maximum {maxSize}");
        }
        var p = new DmaPool(huge, Math.Min(Math.Max(initialSize, DefaultRegionSize), maxSize), maxSize, mode);
        int rc = p.AddRegion(initialSize, out _);
        if (rc != 0)
        {
            return rc;
        }
        if (huge == -1 && !p._regions[0].HugePages)
        {
            Log.Notice($"no hugepages reserved: DMA pool uses 4 KiB pages ({p._regions[0].Size >> 20} MiB)");
        }
        pool = p;
        return 0;
    }

    public long TotalSize
    {
        get
        {
            lock (_lock)
            {
                long n = 0;
                foreach (var r in _regions)
                {
                    n += r.Size;
                }
                return n;
            }
        }
    }

    public long UsedSize
    {
        get
        {
            lock (_lock)
            {
                long n = 0;
                foreach (var r in _regions)
                {
                    n += r.Used;
                }
                return n;
            }
        }
    }

    public bool HugePages
    {
        get
        {
            lock (_lock)
            {
                return _regions.Count > 0 && _regions[0].HugePages;
            }
        }
    }

    public bool Pinned
    {
        get
        {
            lock (_lock)
            {
                return _regions.TrueForAll(r => r.Pinned);
            }
        }
    }

    public DmaRegion[] Regions()
    {
        lock (_lock)
        {
            return _regions.ToArray();
        }
    }

    public int AllocationCount
    {
        get
        {
            lock (_lock)
            {
                int n = 0;
                foreach (var r in _regions)
                {
                    n += r.AllocationCount;
                }
                return n;
            }
        }
    }

    // Called with _lock held (or before the pool is published).
    private int AddRegion(long size, out DmaRegion? region)
    {
        int rc = DmaRegion.Create(size, _huge, allowThp: IovaMode == IovaMode.Va, out region);
        if (rc != 0)
        {
            return rc;
        }
        if (IovaMode == IovaMode.Pa && (rc = region!.LoadPhysicalAddresses()) != 0)
        {
            region.Unmap();
            region = null;
            return rc;
        }
        if (RegionAdded != null && (rc = RegionAdded(region!)) != 0)
        {
            region!.Unmap();
            region = null;
            return rc;
        }
        _regions.Add(region!);
        _snapshot = _regions.ToArray();
        return 0;
    }

    /// <summary>Allocates <paramref name="size"/> bytes aligned to <paramref name="align"/>
    /// (a power of two; 0 means 64). Returns null with LastError set when it cannot.</summary>
    public void* Alloc(long size, long align, bool zero)
    {
        if (size <= 0)
        {
            LastError.Set(Errno.EINVAL, $"DMA allocation size {size} must be positive");
            return null;
        }
        if (align == 0)
        {
            align = 64;
        }
        if (align < 0 || (align & (align - 1)) != 0 || align > DmaRegion.HugePageSize)
        {
            LastError.Set(Errno.EINVAL, $"DMA alignment {align} must be a power of two of at most 2 MiB");
            return null;
        }
        byte* p = null;
        lock (_lock)
        {
            if (_disposed)
            {
                LastError.Set(Errno.EPERM, "DMA pool is released (environment finished)");
                return null;
            }
            foreach (var r in _regions)
            {
                if ((p = r.Alloc(size, align)) != null)
                {
                    break;
                }
            }
            if (p == null)
            {
                long total = TotalLocked();
                long want = GrowthFor(size, align, total);
                if (total + want > _maxSize && ReleaseEmptyRegionsLocked(keepOne: false))
                {
                    total = TotalLocked();
                    want = GrowthFor(size, align, total);
                }
                if (total + want > _maxSize)
                {
                    LastError.Set(Errno.ENOMEM,
                        $"DMA pool exhausted: {size} bytes wanted, {total >> 20} MiB reserved of a " +
                        $"{_maxSize >> 20} MiB limit");
                    return null;
                }
                if (AddRegion(want, out var region) != 0)
                {
                    return null;
                }
                p = region!.Alloc(size, align);
            }
        }
        if (p != null && zero)
        {
            new Span<byte>(p, (int)Math.Min(size, int.MaxValue)).Clear();
            for (long done = int.MaxValue; done < size; done += int.MaxValue)
            {
                new Span<byte>(p + done, (int)Math.Min(size - done, int.MaxValue)).Clear();
            }
        }
        return p;
    }

    private long TotalLocked()
    {
        long total = 0;
        foreach (var r in _regions)
        {
            total += r.Size;
        }
        return total;
    }

    /// <summary>The size of the region to map for an allocation that fits nowhere: a growth
    /// step (or what is left under the limit), or more if the allocation needs more.</summary>
    private long GrowthFor(long size, long align, long total) =>
        Math.Max(Math.Min(_growSize, _maxSize - total), DmaRegion.AlignUp(size + align, DmaRegion.HugePageSize));

    /// <summary>Unmaps grown regions (not the first) that hold no allocation. With
    /// <paramref name="keepOne"/>, one of at most a growth step stays mapped. True if any went.</summary>
    private bool ReleaseEmptyRegionsLocked(bool keepOne)
    {
        bool released = false;
        for (int i = _regions.Count - 1; i >= 1; i--)
        {
            DmaRegion r = _regions[i];
            if (r.AllocationCount != 0)
            {
                continue;
            }
            if (keepOne && r.Size <= _growSize)
            {
                keepOne = false;
                continue;
            }
            RegionRemoved?.Invoke(r);
            r.Unmap();
            _regions.RemoveAt(i);
            released = true;
        }
        if (released)
        {
            _snapshot = _regions.ToArray();
        }
        return released;
    }

    public int Free(void* p)
    {
        if (p == null)
        {
            return 0; // free(NULL) is a no-op, as everywhere
        }
        lock (_lock)
        {
            for (int i = 0; i < _regions.Count; i++)
            {
                DmaRegion r = _regions[i];
                if (r.Contains(p))
                {
                    if (!r.Free(p))
                    {
                        return LastError.Set(Errno.EINVAL, $"0x{(nint)p:x}" +
                            $" is inside the DMA pool but is not the start of a live allocation (double free?)");
                    }
                    if (i > 0 && r.AllocationCount == 0)
                    {
                        ReleaseEmptyRegionsLocked(keepOne: true);
                    }
                    return 0;
                }
            }
        }
        return LastError.Set(Errno.EINVAL, $"0x{(nint)p:x} was not allocated from the DMA pool");
    }

    public DmaRegion? RegionOf(void* p)
    {
        lock (_lock)
        {
            foreach (var r in _regions)
            {
                if (r.Contains(p))
                {
                    return r;
                }
            }
        }
        return null;
    }

    /// <summary>spdk_vtophys: the IOVA of <paramref name="p"/>, and in
    /// <paramref name="contiguous"/> how many bytes from it are contiguous for a device.
    /// -1 when the address is outside the pool.</summary>
    public long Translate(void* p, out long contiguous)
    {
        DmaRegion? r = RegionOf(p);
        if (r == null)
        {
            contiguous = 0;
            return -1;
        }
        return r.Translate(p, IovaMode == IovaMode.Pa, out contiguous);
    }

    /// <summary>The device address of <paramref name="p"/> (page-granular: valid up to the
    /// end of its page), lock-free for the I/O path; -1 outside the pool.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public long TranslatePage(void* p)
    {
        DmaRegion[] regions = _snapshot;
        for (int i = 0; i < regions.Length; i++)
        {
            DmaRegion r = regions[i];
            if (r.Contains(p))
            {
                return r.DeviceAddress(p);
            }
        }
        return -1;
    }

    /// <summary>Whether [p, p+len) lies inside one region of the pool (lock-free).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public bool ContainsRange(void* p, nuint len)
    {
        DmaRegion[] regions = _snapshot;
        for (int i = 0; i < regions.Length; i++)
        {
            DmaRegion r = regions[i];
            if (r.Contains(p))
            {
                return (ulong)((byte*)p - r.Base) + len <= (ulong)r.Size;
            }
        }
        return false;
    }

    /// <summary>Switches device addresses to physical ones (a UIO device has no IOMMU):
    /// loads every region's page frames. Refused when a VFIO container maps the pool.</summary>
    public int UsePhysicalAddresses()
    {
        lock (_lock)
        {
            if (IovaMode == IovaMode.Pa)
            {
                return 0;
            }
            if (RegionAdded != null)
            {
                return LastError.Set(Errno.EBUSY,
                    "the DMA pool is mapped for VFIO (IOVA = virtual address): UIO devices, which need physical " +
                    "addresses, cannot be used in the same process");
            }
            // All or nothing: a region left with frames while the pool stays in VA mode would
            // hand physical addresses to a later VFIO device.
            var frames = new long[_regions.Count][];
            for (int i = 0; i < _regions.Count; i++)
            {
                int rc = _regions[i].ReadPhysicalAddresses(out long[]? phys);
                if (rc != 0)
                {
                    return rc;
                }
                frames[i] = phys!;
            }
            for (int i = 0; i < _regions.Count; i++)
            {
                DmaRegion r = _regions[i];
                r.UsePhysicalAddresses(frames[i]);
                if (!r.HugePages)
                {
                    Log.Warn("UIO: the DMA pool uses 4 KiB pages, not hugepages: their physical addresses are fixed " +
                             "only while the kernel does not migrate locked pages " +
                             "(set /proc/sys/vm/compact_unevictable_allowed to 0, or reserve hugepages)");
                }
            }
            IovaMode = IovaMode.Pa;
            _snapshot = _regions.ToArray();
            return 0;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            foreach (var r in _regions)
            {
                RegionRemoved?.Invoke(r);
                r.Unmap();
            }
            _regions.Clear();
            _snapshot = Array.Empty<DmaRegion>();
        }
    }
}
