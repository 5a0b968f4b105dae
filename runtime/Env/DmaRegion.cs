using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using NativeBdev.Interop;

namespace NativeBdev.Env;

/// <summary>One large contiguous mapping of DMA-capable memory: hugepages from a
/// MFD_HUGETLB memfd when the kernel has them reserved, else anonymous 4 KiB pages locked
/// with mlock. Regions are few and large so that a VFIO container can map each one once.
/// Carving allocations out of a region is first-fit over a sorted free list: DMA
/// allocation is a set-up path, never per I/O.</summary>
internal sealed unsafe class DmaRegion
{
    public const long HugePageSize = 2L << 20;
    private const long Granule = 64;

    public byte* Base { get; }
    public long Size { get; }
    public long PageSize { get; }
    private readonly int _pageShift; // log2(PageSize): translation shifts instead of dividing
    public bool HugePages { get; }
    public bool Pinned { get; }
    public long Used { get; private set; }

    // Free blocks sorted by offset; allocated blocks by offset -> length.
    private readonly List<(long Offset, long Length)> _free = new();
    private readonly Dictionary<long, long> _allocated = new();
    private long[]? _physPages;

    private DmaRegion(byte* baseAddr, long size, long pageSize, bool huge, bool pinned)
    {
        Base = baseAddr;
        Size = size;
        PageSize = pageSize;
        _pageShift = System.Numerics.BitOperations.TrailingZeroCount((ulong)pageSize);
        HugePages = huge;
        Pinned = pinned;
        _free.Add((0, size));
    }

    public int AllocationCount => _allocated.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(void* p) => (ulong)((byte*)p - Base) < (ulong)Size; // one compare: below Base wraps

    /// <summary>Maps a new region. <paramref name="huge"/>: 1 = hugepages only, 0 = 4 KiB
    /// pages only, -1 = hugepages if the kernel has enough reserved, else 4 KiB pages.</summary>
    public static int Create(long size, int huge, bool allowThp, out DmaRegion? region)
    {
        region = null;
        if (huge != 0)
        {
            long hsize = AlignUp(size, HugePageSize);
            int rc = MapHuge(hsize, out byte* p);
            if (rc == 0)
            {
                region = new DmaRegion(p, hsize, HugePageSize, huge: true, pinned: true);
                return 0;
            }
            if (huge == 1)
            {
                return LastError.Set(Errno.ENOMEM,
                    $"hugepages requested but {hsize >> 20} MiB of 2 MiB hugepages could not be mapped " +
                    $"({Libc.StrError(-rc)}); reserve them with 'echo N > /proc/sys/vm/nr_hugepages'");
            }
        }
        // 4 KiB pages, but 2 MiB aligned and advised for transparent hugepages: where THP
        // is on (madvise mode is Debian's default) the kernel backs the region with 2 MiB
        // pages anyway, which cuts TLB misses on large RAM disks.
        long psize = AlignUp(size, HugePageSize);
        byte* raw = (byte*)Libc.mmap(null, (nuint)(psize + HugePageSize), Libc.PROT_READ | Libc.PROT_WRITE,
            Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        if ((nint)raw == Libc.MAP_FAILED)
        {
            int e = Libc.LastErrno;
            return LastError.Set(Errno.ENOMEM, $"cannot map {psize} bytes of DMA memory: {Libc.StrError(e)}");
        }
        byte* q = (byte*)AlignUp((long)raw, HugePageSize);
        if (q > raw)
        {
            Libc.munmap(raw, (nuint)(q - raw));
        }
        Libc.munmap(q + psize, (nuint)(raw + psize + HugePageSize - (q + psize)));
        if (allowThp)
        {
            // Not in physical-address mode: the kernel may migrate transparent hugepages,
            // which would invalidate the frame numbers read at creation.
            Libc.madvise(q, (nuint)psize, Libc.MADV_HUGEPAGE);
        }
        // mlock faults every page in (what MAP_POPULATE would do) and keeps them resident.
        bool pinned = Libc.mlock(q, (nuint)psize) == 0;
        if (!pinned)
        {
            Log.Warn($"DMA memory ({psize >> 10} KiB) is not pinned: mlock failed ({Libc.StrError(Libc.LastErrno)}); " +
                     "raise RLIMIT_MEMLOCK for backends that hand buffers to devices");
            Libc.madvise(q, (nuint)psize, Libc.MADV_WILLNEED);
        }
        region = new DmaRegion(q, psize, 4096, huge: false, pinned);
        return 0;
    }

    private static int MapHuge(long size, out byte* p)
    {
        p = null;
        byte* name = stackalloc byte[] { (byte)'n', (byte)'b', (byte)'-', (byte)'d', (byte)'m', (byte)'a', 0 };
        int fd = Libc.memfd_create(name, Libc.MFD_HUGETLB | Libc.MFD_CLOEXEC);
        if (fd < 0)
        {
            return -Libc.LastErrno;
        }
        try
        {
            if (Libc.ftruncate(fd, size) != 0)
            {
                return -Libc.LastErrno;
            }
            // MAP_SHARED reserves the hugepages at mmap time, so a shortage is ENOMEM here
            // rather than SIGBUS on first touch; MAP_POPULATE faults them all in now.
            void* m = Libc.mmap(null, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, 0);
            if ((nint)m == Libc.MAP_FAILED)
            {
                return -Libc.LastErrno;
            }
            p = (byte*)m;
            return 0;
        }
        finally
        {
            Libc.close(fd); // the mapping keeps the memory alive
        }
    }

    public void Unmap()
    {
        if (Pinned && !HugePages)
        {
            Libc.munlock(Base, (nuint)Size);
        }
        Libc.munmap(Base, (nuint)Size);
    }

    public static long AlignUp(long v, long a) => (v + a - 1) & ~(a - 1);

    /// <summary>First-fit allocation; null when no free block fits.</summary>
    public byte* Alloc(long size, long align)
    {
        Invariant.Assert(align > 0 && (align & (align - 1)) == 0, "alignment is a power of two");
        size = AlignUp(Math.Max(size, 1), Granule);
        align = Math.Max(align, Granule);
        for (int i = 0; i < _free.Count; i++)
        {
            var (off, len) = _free[i];
            long start = AlignUp((long)(Base + off), align) - (long)Base;
            long end = off + len;
            if (start + size > end)
            {
                continue;
            }
            _free.RemoveAt(i);
            int at = i;
            if (start > off)
            {
                _free.Insert(at++, (off, start - off));
            }
            if (start + size < end)
            {
                _free.Insert(at, (start + size, end - start - size));
            }
            _allocated.Add(start, size);
            Used += size;
            return Base + start;
        }
        return null;
    }

    /// <summary>Returns the block to the free list, merging with its neighbours.</summary>
    public bool Free(void* p)
    {
        long off = (byte*)p - Base;
        if (!_allocated.Remove(off, out long size))
        {
            return false;
        }
        Used -= size;
        int i = 0;
        while (i < _free.Count && _free[i].Offset < off)
        {
            i++;
        }
        _free.Insert(i, (off, size));
        if (i + 1 < _free.Count && _free[i].Offset + _free[i].Length == _free[i + 1].Offset)
        {
            _free[i] = (_free[i].Offset, _free[i].Length + _free[i + 1].Length);
            _free.RemoveAt(i + 1);
        }
        if (i > 0 && _free[i - 1].Offset + _free[i - 1].Length == _free[i].Offset)
        {
            _free[i - 1] = (_free[i - 1].Offset, _free[i - 1].Length + _free[i].Length);
            _free.RemoveAt(i);
        }
        return true;
    }

    public long AllocationSize(void* p) =>
        _allocated.TryGetValue((byte*)p - Base, out long size) ? size : -1;

    /// <summary>Reads this region's physical page frames from /proc/self/pagemap and uses
    /// them. Needs CAP_SYS_ADMIN: without it the kernel reports frame 0 for every page.</summary>
    public int LoadPhysicalAddresses()
    {
        int rc = ReadPhysicalAddresses(out long[]? phys);
        if (rc == 0)
        {
            UsePhysicalAddresses(phys!);
        }
        return rc;
    }

    public void UsePhysicalAddresses(long[] phys) => _physPages = phys;

    /// <summary>The physical address of each page, without using them yet. 4 KiB regions are
    /// first taken out of transparent hugepages: khugepaged collapsing them would move them.</summary>
    public int ReadPhysicalAddresses(out long[]? result)
    {
        result = null;
        if (!HugePages)
        {
            Libc.madvise(Base, (nuint)Size, Libc.MADV_NOHUGEPAGE);
        }
        long pages = Size / PageSize;
        var phys = new long[pages];
        byte* path = stackalloc byte[] { (byte)'/', (byte)'p', (byte)'r', (byte)'o', (byte)'c', (byte)'/',
            (byte)'s', (byte)'e', (byte)'l', (byte)'f', (byte)'/', (byte)'p', (byte)'a', (byte)'g', (byte)'e',
            (byte)'m', (byte)'a', (byte)'p', 0 };
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return LastError.Set(Errno.EACCES, $"cannot open /proc/self/pagemap: {Libc.StrError(Libc.LastErrno)}");
        }
        try
        {
            for (long i = 0; i < pages; i++)
            {
                ulong entry;
                long vpn = ((long)Base + i * PageSize) / 4096;
                if (Libc.pread(fd, &entry, 8, vpn * 8) != 8)
                {
                    return LastError.Set(Errno.EIO, $"cannot read /proc/self/pagemap: {Libc.StrError(Libc.LastErrno)}");
                }
                ulong pfn = entry & ((1UL << 55) - 1);
                bool present = (entry & (1UL << 63)) != 0;
                if (!present || pfn == 0)
                {
                    return LastError.Set(Errno.EPERM,
                        "physical addresses are unavailable: /proc/self/pagemap hides frame numbers " +
                        "without CAP_SYS_ADMIN");
                }
                phys[i] = (long)(pfn * 4096);
            }
        }
        finally
        {
            Libc.close(fd);
        }
        result = phys;
        return 0;
    }

    /// <summary>The device address of <paramref name="p"/>, valid to the end of its page:
    /// the virtual address (IOVA = VA), or the physical one once frames are loaded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long DeviceAddress(void* p)
    {
        long[]? phys = _physPages;
        if (phys == null)
        {
            return (long)p;
        }
        long off = (byte*)p - Base;
        return phys[off >> _pageShift] + (off & (PageSize - 1));
    }

    /// <summary>The device address of <paramref name="p"/> and how many bytes from it are
    /// contiguous in that address space (up to the region's end).</summary>
    public long Translate(void* p, bool physical, out long contiguous)
    {
        long off = (byte*)p - Base;
        if (!physical)
        {
            contiguous = Size - off;
            return (long)p;
        }
        Invariant.Assert(_physPages != null, "physical translation requested before LoadPhysicalAddresses");
        long page = off / PageSize;
        long addr = _physPages![page] + off % PageSize;
        contiguous = PageSize - off % PageSize;
        for (long next = page + 1;
             next < _physPages.Length && _physPages[next] == _physPages[next - 1] + PageSize;
             next++)
        {
            contiguous += PageSize;
        }
        return addr;
    }
}
