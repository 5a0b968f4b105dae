using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Env;

/// <summary>Hugepage selection and fallback, and physical addresses. These read or change
/// the machine's hugepage reservation, so they never run in parallel with each other.</summary>
[NotInParallel(Keys.HugePages)]
public class DmaPoolHugePageTests
{
    private const long MiB = 1L << 20;

    [Test]
    public async Task Auto_mode_falls_back_to_4k_pages_without_hugepages()
    {
        Skip.When(Machine.FreeHugePages > 0, "hugepages are reserved on this machine");
        using DmaPool pool = Dma.Create(4 * MiB, 64 * MiB, huge: -1);

        await Assert.That(pool.HugePages).IsFalse();
        await Assert.That(pool.Regions()[0].PageSize).IsEqualTo(4096);
        await Assert.That(pool.TotalSize).IsEqualTo(4 * MiB);
    }

    [Test]
    public async Task Hugepages_only_fails_with_ENOMEM_when_none_are_reserved()
    {
        Skip.When(Machine.ReadLong(Machine.NrHugePages) != 0 || Machine.ReadLong(Machine.NrOvercommitHugePages) != 0,
            "hugepages are reserved on this machine");
        int rc = DmaPool.Create(4 * MiB, 1, 64 * MiB, IovaMode.Va, out DmaPool? pool);
        string message = LastError.Message;

        await Assert.That(rc).IsEqualTo(-Errno.ENOMEM);
        await Assert.That(pool).IsNull();
        await Assert.That(message).Contains("nr_hugepages");
    }

    [Test]
    public async Task Reserved_hugepages_are_used_and_2MiB_alignment_works()
    {
        Skip.Unless(Machine.IsRoot, "reserving hugepages needs root");
        long old = Machine.ReadLong(Machine.NrHugePages);
        DmaPool? pool = null;
        try
        {
            Machine.WriteLong(Machine.NrHugePages, old + 16);
            Skip.When(Machine.FreeHugePages < 8, "the kernel could not reserve 8 free hugepages");
            pool = Dma.Create(16 * MiB, 64 * MiB, huge: 1);
            nint p = Dma.Alloc(pool, 4096, align: 2 * MiB);
            nint q = Dma.Alloc(pool, 3 * MiB, align: 2 * MiB);

            await Assert.That(pool.HugePages).IsTrue();
            await Assert.That(pool.Regions()[0].PageSize).IsEqualTo(2 * MiB);
            await Assert.That(pool.TotalSize).IsEqualTo(16 * MiB);
            await Assert.That(p).IsNotEqualTo(0);
            await Assert.That(q).IsNotEqualTo(0);
            await Assert.That(p % (nint)(2 * MiB)).IsEqualTo(0);
            await Assert.That(q % (nint)(2 * MiB)).IsEqualTo(0);
        }
        finally
        {
            pool?.Dispose(); // unmap before giving the pages back
            Machine.WriteLong(Machine.NrHugePages, old);
        }
        await Assert.That(Machine.ReadLong(Machine.NrHugePages)).IsEqualTo(old);
    }

    [Test]
    public async Task Pa_translation_gives_a_physical_address_with_the_same_page_offset()
    {
        Skip.Unless(Machine.IsRoot, "/proc/self/pagemap hides frame numbers without CAP_SYS_ADMIN");
        using DmaPool pool = Dma.Create(4 * MiB, 64 * MiB, mode: IovaMode.Pa);
        nint p = Dma.Alloc(pool, 3 * 4096, align: 4096) + 123;
        long pa = Dma.Translate(pool, p, out long contiguous);
        long paNextPage = Dma.Translate(pool, p + 4096, out _);

        await Assert.That(pool.IovaMode).IsEqualTo(IovaMode.Pa);
        await Assert.That(pa).IsGreaterThan(0);
        await Assert.That(pa).IsNotEqualTo((long)p);
        await Assert.That(pa & 4095).IsEqualTo(123);
        await Assert.That(paNextPage & 4095).IsEqualTo(123);
        await Assert.That(contiguous).IsGreaterThanOrEqualTo(4096 - 123);
        await Assert.That(contiguous % 4096).IsEqualTo(4096 - 123);
    }
}
