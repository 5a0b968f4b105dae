using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Split;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Modules;

/// <summary>split:///BASE: SPDK's part geometry (equal parts, fixed sizes, clamping), data at
/// the part's offset of the base, the claim, and the parts' life following their base.</summary>
[NotInParallel(Keys.Threads)]
public class SplitBdevTests
{
    private static (int Rc, string? Name, string Message) CreateOn(LightweightThread t, string uri) =>
        Bdevs.Bound(t, () => Bdevs.TryCreate(uri));

    [Test]
    public async Task Equal_parts_hold_their_data_at_their_offset_of_the_base()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("split-eq");
        string baseName = Bdevs.Malloc("sbase", "num_blocks=4099&blk_size=512");
        var created = CreateOn(t, $"split:///{baseName}?split_count=4");
        BlockDevice[] parts = Enumerable.Range(0, 4).Select(i => Bdevs.Find($"{baseName}p{i}")).ToArray();
        BdevSession p2 = BdevSession.Open(t, parts[2].Name);
        BdevSession viaBase = BdevSession.Open(t, baseName, write: false);
        int writeOpen = BdevSession.TryOpen(t, baseName, write: true, out _);
        using var w = new DmaBuffer(16 * 512).Fill(seed: 3);
        using var r = new DmaBuffer(16 * 512);
        using var rv = new DmaBuffer(16 * 512);
        using var iovs = new IovArray(rv.Pointer, 700, 3000, 4492);
        int write = p2.Run(BdevIoType.Write, w.Pointer, 1000, 16);
        int readBase = viaBase.Run(BdevIoType.Read, r.Pointer, 2 * 1024 + 1000, 16);
        bool baseHasIt = r.HasPattern(3);
        int readV = p2.RunV(BdevIoType.Read, iovs, 1000, 16);
        int pastEnd = p2.Run(BdevIoType.Read, r.Pointer, 1020, 8); // 1024 blocks per part
        int zeroes = p2.Run(BdevIoType.WriteZeroes, 0, 1000, 2);
        int flush = p2.Run(BdevIoType.Flush, 0, 0, 1024);
        int reset = p2.Run(BdevIoType.Reset, 0, 0, 0);
        int readZ = viaBase.Run(BdevIoType.Read, r.Pointer, 2 * 1024 + 1000, 16);
        bool zeroed = r.IsZero(0, 1024) && r.HasPattern(3, 1024, 15 * 512 - 512);
        bool claimed = Bdevs.Find(baseName).ClaimOwner == "split";
        p2.Close();
        viaBase.Close();
        bool allGone = Bdevs.DestroyAndWait(baseName, t) &&
                       ThreadHost.PollUntil(() => parts.All(p => BdevRegistry.Find(p.Name) == null), t);

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(created.Name).IsEqualTo(baseName + "p0");
        await Assert.That(parts.Select(p => p.BlockCount).Distinct().Single()).IsEqualTo(1024UL);
        await Assert.That(parts[3].DescribeDriver()).IsEqualTo($"base_bdev={baseName} offset_blocks=3072");
        await Assert.That(parts[0].ProductName).IsEqualTo("Split Disk");
        await Assert.That(writeOpen).IsEqualTo(-Errno.EPERM);
        await Assert.That(claimed).IsTrue();
        await Assert.That(write + readBase + readV).IsEqualTo(0);
        await Assert.That(baseHasIt).IsTrue();
        await Assert.That(rv.HasPattern(3)).IsTrue();
        await Assert.That(pastEnd).IsEqualTo(-Errno.EINVAL);
        await Assert.That(zeroes + flush + reset + readZ).IsEqualTo(0);
        await Assert.That(zeroed).IsTrue();
        await Assert.That(allGone).IsTrue();
    }

    [Test]
    public async Task Split_size_mb_fixes_the_part_size_and_a_count_too_large_is_clamped()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("split-mb");
        string baseName = Bdevs.Malloc("smb", "size_mb=5&blk_size=4096");
        var created = CreateOn(t, $"split:///{baseName}?split_count=8&split_size_mb=2");
        SplitBase? split = SplitBase.Find(baseName);
        int parts = split?.Parts.Count ?? -1;
        ulong blocks = split?.Parts[1].BlockCount ?? 0, offset = split?.Parts[1].OffsetBlocks ?? 0;
        var again = CreateOn(t, $"split:///{baseName}?split_count=2");
        split!.DestroyParts();
        bool released = ThreadHost.PollUntil(() => SplitBase.Find(baseName) == null, t);
        int writeOpenAfter = BdevSession.TryOpen(t, baseName, write: true, out BdevSession? s);
        s?.Close();
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(parts).IsEqualTo(2);
        await Assert.That(blocks).IsEqualTo(512UL);
        await Assert.That(offset).IsEqualTo(512UL);
        await Assert.That(again.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(released).IsTrue();
        await Assert.That(writeOpenAfter).IsEqualTo(0);
    }

    [Test]
    [Arguments("split:///{0}", -22, "split_count")]
    [Arguments("split:///{0}?split_count=0", -22, "split_count")]
    [Arguments("split:///{0}?split_count=2000", -22, "split_count")]
    [Arguments("split:///{0}?split_count=2&split_size_mb=5", -22, "cannot hold")]
    [Arguments("split:///{0}?split_count=2&parts=2", -22, "unknown parameter 'parts'")]
    [Arguments("split:///nosuch-base?split_count=2", -19, "no bdev named 'nosuch-base'")]
    [Arguments("split:///?split_count=2", -22, "needs the name")]
    public async Task Bad_splits_are_refused_with_a_message(string uri, int rc, string message)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("split-bad");
        string baseName = Bdevs.Malloc("sbad", "size_mb=4");
        var r = CreateOn(t, string.Format(uri, baseName));
        bool unclaimed = Bdevs.Find(baseName).ClaimedBy == null;
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(r.Rc).IsEqualTo(rc);
        await Assert.That(r.Message).Contains(message);
        await Assert.That(unclaimed).IsTrue();
    }
}
