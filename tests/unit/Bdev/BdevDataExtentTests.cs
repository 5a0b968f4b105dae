using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>Bdev.DataExtent, the hint a replay of a big metadata region uses to skip a sparse
/// file's holes: over a file bdev it is the file system's SEEK_DATA / SEEK_HOLE; elsewhere (a
/// malloc bdev) anything may hold data.</summary>
[NotInParallel(Keys.Threads)]
public class BdevDataExtentTests
{
    [Test]
    [Arguments("aio")]
    [Arguments("uring")]
    public async Task A_file_bdev_reports_its_holes(string module)
    {
        string path = Path.Combine(Path.GetTempPath(), "nb-extent-" + Guid.NewGuid().ToString("N")[..10]);
        using (FileStream f = File.Create(path))
        {
            f.SetLength(64L << 20);
            f.Position = 16L << 20;
            f.Write(new byte[1 << 20].Select(_ => (byte)7).ToArray());
        }
        string name = Bdevs.Create($"{module}:///{path}?blk_size=4096");
        var b = Bdevs.Find(name);
        b.DataExtent(0, out ulong start, out ulong end);
        b.DataExtent(20UL << 20, out ulong after, out ulong afterEnd);
        Bdevs.DestroyAndWait(name);
        File.Delete(path);
        await Assert.That(start).IsEqualTo(16UL << 20);
        await Assert.That(end).IsEqualTo(17UL << 20);
        await Assert.That(after).IsEqualTo(64UL << 20); // no data after 20 MiB: empty at the end
        await Assert.That(afterEnd).IsEqualTo(64UL << 20);
    }

    [Test]
    public async Task Elsewhere_anything_may_hold_data()
    {
        string name = Bdevs.Malloc("extent", "size_mb=4");
        Bdevs.Find(name).DataExtent(4096, out ulong start, out ulong end);
        Bdevs.DestroyAndWait(name);
        await Assert.That(start).IsEqualTo(4096UL);
        await Assert.That(end).IsEqualTo(4UL << 20);
    }
}
