using NativeBdev.Interop;
using NativeBdev.Modules.Uring;

namespace NativeBdev.Tests.Modules.Uring;

/// <summary>What a uring bdev advertises as unmap, and how it sends it, is what works there:
/// the kernel's discard for a block device that takes discards on a kernel whose io_uring can
/// send one, fallocate's hole punch where that works (files that take it, block devices with
/// write zeroes), nothing otherwise (the brd ram disk of Linux 6.1, where fallocate answered
/// EOPNOTSUPP to an advertised unmap).</summary>
public class UringUnmapTests
{
    [Test]
    public async Task A_block_device_unmaps_by_discard_where_io_uring_can_send_one()
    {
        await Assert.That(UringBdev.ChooseUnmap(false, true, punchHoleWorks: true, 1 << 30, kernelDiscards: true))
            .IsEqualTo(UringUnmap.Discard);
        await Assert.That(UringBdev.ChooseUnmap(false, true, punchHoleWorks: false, 4096, kernelDiscards: true))
            .IsEqualTo(UringUnmap.Discard);
    }

    [Test]
    public async Task Without_io_uring_discard_a_block_device_punches_holes_only_where_it_zeroes()
    {
        // punchHoleWorks for a block device is BackingFile's "the queue has write zeroes".
        await Assert.That(UringBdev.ChooseUnmap(false, true, punchHoleWorks: true, 1 << 30, kernelDiscards: false))
            .IsEqualTo(UringUnmap.PunchHole);
        await Assert.That(UringBdev.ChooseUnmap(false, true, punchHoleWorks: false, 1 << 30, kernelDiscards: false))
            .IsEqualTo(UringUnmap.None);
    }

    [Test]
    public async Task A_ram_disk_with_neither_discard_nor_write_zeroes_advertises_no_unmap()
    {
        await Assert.That(UringBdev.ChooseUnmap(false, true, punchHoleWorks: false, 0, kernelDiscards: true))
            .IsEqualTo(UringUnmap.None);
        await Assert.That(UringBdev.ChooseUnmap(false, true, punchHoleWorks: false, 0, kernelDiscards: false))
            .IsEqualTo(UringUnmap.None);
    }

    [Test]
    public async Task Files_punch_holes_where_their_file_system_does_and_read_only_never_unmaps()
    {
        await Assert.That(UringBdev.ChooseUnmap(false, false, punchHoleWorks: true, 0, kernelDiscards: true))
            .IsEqualTo(UringUnmap.PunchHole);
        await Assert.That(UringBdev.ChooseUnmap(false, false, punchHoleWorks: false, 0, kernelDiscards: true))
            .IsEqualTo(UringUnmap.None);
        await Assert.That(UringBdev.ChooseUnmap(true, true, punchHoleWorks: true, 1 << 30, kernelDiscards: true))
            .IsEqualTo(UringUnmap.None);
    }

    [Test]
    public async Task Kernel_releases_parse_to_major_and_minor()
    {
        await Assert.That(KernelVersion.Parse("6.18.44-fc-v1252")).IsEqualTo((6, 18));
        await Assert.That(KernelVersion.Parse("6.1.0-27-amd64\n")).IsEqualTo((6, 1));
        await Assert.That(KernelVersion.Parse("6.12")).IsEqualTo((6, 12));
        await Assert.That(KernelVersion.Parse("5.14.0-427.el9.x86_64")).IsEqualTo((5, 14));
        await Assert.That(KernelVersion.Parse("6.12-rc1")).IsEqualTo((6, 12));
        foreach (string bad in new[] { "", "6", "x.y", "-6.1", "6.", "6.x" })
        {
            await Assert.That(KernelVersion.Parse(bad)).IsEqualTo((0, 0));
        }
    }
}
