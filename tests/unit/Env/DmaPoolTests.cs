using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Env;

/// <summary>DMA pools on 4 KiB pages (huge: 0), which work on every machine.</summary>
public class DmaPoolTests
{
    private const long MiB = 1L << 20;

    [Test]
    [Arguments(64L)]
    [Arguments(512L)]
    [Arguments(4096L)]
    [Arguments(2L << 20)]
    public async Task Allocations_honour_the_alignment(long align)
    {
        using DmaPool pool = Dma.Create(16 * MiB, 64 * MiB);
        var misaligned = new List<nint>();
        var blocks = new List<nint>();
        foreach (long size in new long[] { 1, 100, 4096, 5000 })
        {
            nint p = Dma.Alloc(pool, size, align);
            blocks.Add(p);
            if (p == 0 || p % (nint)align != 0)
            {
                misaligned.Add(p);
            }
        }
        int frees = blocks.Sum(p => Dma.Free(pool, p));

        await Assert.That(misaligned.Count).IsEqualTo(0);
        await Assert.That(frees).IsEqualTo(0);
        await Assert.That(pool.AllocationCount).IsEqualTo(0);
    }

    [Test]
    public async Task Pool_without_hugepages_uses_pinned_4k_pages()
    {
        using DmaPool pool = Dma.Create(1 * MiB, 64 * MiB);

        await Assert.That(pool.HugePages).IsFalse();
        await Assert.That(pool.TotalSize).IsGreaterThanOrEqualTo(1 * MiB);
        await Assert.That(pool.Regions()[0].PageSize).IsEqualTo(4096);
        await Assert.That(pool.IovaMode).IsEqualTo(IovaMode.Va);
    }

    [Test]
    public async Task Zeroed_allocation_clears_memory_that_was_dirty()
    {
        const int size = 64 * 1024;
        using DmaPool pool = Dma.Create(4 * MiB, 64 * MiB);
        nint a = Dma.Alloc(pool, size);
        Dma.Fill(a, size, 0xAB);
        Dma.Free(pool, a);
        nint b = Dma.Alloc(pool, size, zero: true);

        await Assert.That(b).IsEqualTo(a); // the dirty block came back: the zeroing did the work
        await Assert.That(Dma.IsZero(b, size)).IsTrue();
    }

    [Test]
    public async Task Freed_memory_is_reused()
    {
        using DmaPool pool = Dma.Create(4 * MiB, 64 * MiB);
        nint a = Dma.Alloc(pool, 100_000);
        long used = pool.UsedSize;
        int free = Dma.Free(pool, a);
        long usedAfterFree = pool.UsedSize;
        nint b = Dma.Alloc(pool, 100_000);

        await Assert.That(a).IsNotEqualTo(0);
        await Assert.That(used).IsGreaterThanOrEqualTo(100_000);
        await Assert.That(free).IsEqualTo(0);
        await Assert.That(usedAfterFree).IsEqualTo(0);
        await Assert.That(b).IsEqualTo(a);
    }

    [Test]
    public async Task Bad_frees_are_refused_with_EINVAL()
    {
        using DmaPool pool = Dma.Create(4 * MiB, 64 * MiB);
        using DmaPool other = Dma.Create(1 * MiB, 1 * MiB);
        nint a = Dma.Alloc(pool, 4096), keep = Dma.Alloc(pool, 4096), foreign = Dma.Alloc(other, 64);
        int first = Dma.Free(pool, a);
        int twice = Dma.Free(pool, a);
        string twiceMessage = LastError.Message;
        int interior = Dma.Free(pool, keep + 64);
        int notOurs = Dma.Free(pool, foreign);
        int nul = Dma.Free(pool, 0);

        await Assert.That(first).IsEqualTo(0);
        await Assert.That(twice).IsEqualTo(-Errno.EINVAL);
        await Assert.That(twiceMessage).Contains("double free");
        await Assert.That(interior).IsEqualTo(-Errno.EINVAL);
        await Assert.That(notOurs).IsEqualTo(-Errno.EINVAL);
        await Assert.That(nul).IsEqualTo(0);
        await Assert.That(pool.AllocationCount).IsEqualTo(1);
        await Assert.That(other.AllocationCount).IsEqualTo(1);
    }

    [Test]
    public async Task Pool_grows_beyond_its_first_region()
    {
        using DmaPool pool = Dma.Create(1 * MiB, 64 * MiB);
        long before = pool.TotalSize; // regions may be rounded up (to 2 MiB)
        nint small = Dma.Alloc(pool, 4096);
        nint big = Dma.Alloc(pool, before, zero: true); // cannot fit next to the small one

        await Assert.That(before).IsLessThan(16 * MiB);
        await Assert.That(small).IsNotEqualTo(0);
        await Assert.That(big).IsNotEqualTo(0);
        await Assert.That(Dma.RegionEnd(pool, big)).IsNotEqualTo(Dma.RegionEnd(pool, small));
        await Assert.That(pool.TotalSize).IsGreaterThan(before);
        await Assert.That(pool.TotalSize).IsLessThanOrEqualTo(64 * MiB);
        await Assert.That(pool.Regions().Length).IsEqualTo(2);
    }

    [Test]
    public async Task Pool_grows_into_headroom_smaller_than_its_growth_step()
    {
        // Growth steps are 16 MiB (or the initial size), but the last step before the maximum
        // must be allowed to be smaller: 10 MiB of headroom serve a 4 MiB allocation.
        using DmaPool pool = Dma.Create(1 * MiB, 12 * MiB);
        nint p = Dma.Alloc(pool, 4 * MiB);
        string message = p == 0 ? LastError.Message : "";

        await Assert.That(message).IsEqualTo("");
        await Assert.That(p).IsNotEqualTo(0);
        await Assert.That(pool.TotalSize).IsLessThanOrEqualTo(12 * MiB);
    }

    [Test]
    public async Task Freed_regions_coalesce_for_an_allocation_larger_than_any_of_them()
    {
        // 256 x 1 MiB fill a 256 MiB pool (sixteen 16 MiB regions). Once they are all freed, the
        // empty grown regions are given back and a 64 MiB allocation fits, as in a fresh pool;
        // before, it failed with "DMA pool exhausted".
        using DmaPool pool = Dma.Create(16 * MiB, 256 * MiB);
        var blocks = new List<nint>();
        for (int i = 0; i < 256; i++)
        {
            blocks.Add(Dma.Alloc(pool, MiB));
        }
        long full = pool.TotalSize;
        int frees = blocks.Sum(p => Dma.Free(pool, p));
        long afterFrees = pool.TotalSize;
        nint big = Dma.Alloc(pool, 64 * MiB);
        string message = big == 0 ? LastError.Message : "";
        int bigFree = Dma.Free(pool, big);

        await Assert.That(message).IsEqualTo("");
        await Assert.That(big).IsNotEqualTo(0);
        await Assert.That(blocks).DoesNotContain(0);
        await Assert.That(full).IsEqualTo(256 * MiB);
        await Assert.That(frees).IsEqualTo(0);
        await Assert.That(afterFrees).IsEqualTo(32 * MiB); // the first region and one kept for reuse
        await Assert.That(bigFree).IsEqualTo(0);
        await Assert.That(pool.TotalSize).IsEqualTo(32 * MiB); // the 66 MiB region went back at its free
    }

    [Test]
    public async Task Empty_region_kept_for_reuse_is_given_back_when_a_larger_allocation_needs_the_room()
    {
        using DmaPool pool = Dma.Create(16 * MiB, 48 * MiB);
        nint first = Dma.Alloc(pool, 16 * MiB); // fills the first region
        nint second = Dma.Alloc(pool, 8 * MiB); // maps a 16 MiB region
        int regionsWithTwo = pool.Regions().Length;
        Dma.Free(pool, second); // the only empty grown region: kept
        int regionsKept = pool.Regions().Length;
        nint again = Dma.Alloc(pool, 8 * MiB); // reuses it, nothing mapped
        int regionsReused = pool.Regions().Length;
        Dma.Free(pool, again);
        nint big = Dma.Alloc(pool, 30 * MiB); // 16 + 16 + 32 > 48: the kept region must go first
        string message = big == 0 ? LastError.Message : "";

        await Assert.That(first).IsNotEqualTo(0);
        await Assert.That(regionsWithTwo).IsEqualTo(2);
        await Assert.That(regionsKept).IsEqualTo(2);
        await Assert.That(again).IsEqualTo(second);
        await Assert.That(regionsReused).IsEqualTo(2);
        await Assert.That(message).IsEqualTo("");
        await Assert.That(big).IsNotEqualTo(0);
        await Assert.That(pool.TotalSize).IsEqualTo(48 * MiB);
        await Assert.That(pool.Regions().Length).IsEqualTo(2);
    }

    [Test]
    public async Task Allocation_beyond_the_maximum_fails_with_ENOMEM_and_a_message()
    {
        using DmaPool pool = Dma.Create(1 * MiB, 32 * MiB);
        long before = pool.TotalSize;
        nint p = Dma.Alloc(pool, 40 * MiB);
        string message = LastError.Message;

        await Assert.That(p).IsEqualTo(0);
        await Assert.That(message).Contains("exhausted");
        await Assert.That(pool.TotalSize).IsEqualTo(before);
    }

    [Test]
    public async Task Bad_arguments_are_refused()
    {
        int badSize = DmaPool.Create(0, 0, MiB, IovaMode.Va, out DmaPool? p1);
        int maxBelowInitial = DmaPool.Create(2 * MiB, 0, MiB, IovaMode.Va, out DmaPool? p2);
        using DmaPool pool = Dma.Create(MiB, MiB);

        await Assert.That(badSize).IsEqualTo(-Errno.EINVAL);
        await Assert.That(maxBelowInitial).IsEqualTo(-Errno.EINVAL);
        await Assert.That(p1 ?? p2).IsNull();
        await Assert.That(Dma.Alloc(pool, 64, align: 3)).IsEqualTo(0);
        await Assert.That(Dma.Alloc(pool, 64, align: 4 * MiB)).IsEqualTo(0);
        await Assert.That(Dma.Alloc(pool, 0)).IsEqualTo(0);
        await Assert.That(pool.AllocationCount).IsEqualTo(0);
    }

    [Test]
    public async Task Released_pool_refuses_allocations()
    {
        DmaPool pool = Dma.Create(MiB, MiB);
        pool.Dispose();
        pool.Dispose(); // twice is harmless

        await Assert.That(Dma.Alloc(pool, 64)).IsEqualTo(0);
        await Assert.That(pool.TotalSize).IsEqualTo(0);
    }

    [Test]
    public async Task Va_translation_is_the_virtual_address()
    {
        using DmaPool pool = Dma.Create(4 * MiB, 64 * MiB);
        nint p = Dma.Alloc(pool, 8192, 4096);
        long iova = Dma.Translate(pool, p + 100, out long contiguous);
        long regionEnd = Dma.RegionEnd(pool, p);
        long outside = Dma.Translate(pool, 0x1000, out long none);

        await Assert.That(iova).IsEqualTo((long)(p + 100));
        await Assert.That(contiguous).IsEqualTo(regionEnd - (p + 100));
        await Assert.That(outside).IsEqualTo(-1);
        await Assert.That(none).IsEqualTo(0);
    }
}
