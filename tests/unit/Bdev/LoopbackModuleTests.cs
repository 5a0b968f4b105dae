using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>loopback:/// and bdev:/// aliases: a passthrough bdev that opens its base like
/// any host, on the thread that created it.</summary>
[NotInParallel(Keys.Threads)]
public class LoopbackModuleTests
{
    private static (int Rc, string? Name, string Message) CreateOn(LightweightThread t, string uri) =>
        Bdevs.Bound(t, () => Bdevs.TryCreate(uri));

    private static string Types(BdevSession s) => string.Join(",", s.Events.Select(e => e.Type));

    [Test]
    public async Task Writes_through_the_alias_read_back_through_the_base_and_back()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("loop-rw");
        string baseName = Bdevs.Malloc("lbase");
        string aliasName = Bdevs.Unique("alias");
        var (rc, alias, _) = CreateOn(t, $"loopback:///{baseName}?name={aliasName}");
        BlockDevice b = Bdevs.Find(baseName);
        BlockDevice l = Bdevs.Find(aliasName);
        BdevSession viaAlias = BdevSession.Open(t, aliasName);
        BdevSession viaBase = BdevSession.Open(t, baseName);
        using var w1 = new DmaBuffer(8 * 512).Fill(seed: 11);
        using var w2 = new DmaBuffer(4 * 512).Fill(seed: 12);
        using var r1 = new DmaBuffer(8 * 512);
        using var r2 = new DmaBuffer(4 * 512);
        using var iovs = new IovArray(r2.Pointer, 100, 1948);
        using var shortIovs = new IovArray(r2.Pointer, 1000);

        int write1 = viaAlias.Run(BdevIoType.Write, w1.Pointer, 8, 8);
        int read1 = viaBase.Run(BdevIoType.Read, r1.Pointer, 8, 8);
        bool same1 = r1.HasPattern(11);
        int write2 = viaBase.Run(BdevIoType.Write, w2.Pointer, 100, 4);
        int read2a = viaAlias.RunV(BdevIoType.Read, iovs, 100, 4);    // vectored through the alias
        int read2b = viaAlias.RunV(BdevIoType.Read, shortIovs, 100, 4); // the alias checks buffers too
        int zeroes = viaAlias.Run(BdevIoType.WriteZeroes, 0, 9, 2);
        int read3 = viaBase.Run(BdevIoType.Read, r1.Pointer, 8, 8);
        bool holeInBase = r1.IsZero(512, 1024) && r1.HasPattern(11, 0, 512) && r1.HasPattern(11, 1536, 8 * 512 - 1536);
        int descriptorsOfBase = b.Descriptors.Count; // the alias's and ours
        viaAlias.Close();
        viaBase.Close();
        bool aliasGone = Bdevs.DestroyAndWait(aliasName, t);
        int descriptorsAfter = b.Descriptors.Count;
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(alias).IsEqualTo(aliasName);
        await Assert.That(l.ModuleName).IsEqualTo("loopback");
        await Assert.That(l.ProductName).IsEqualTo("Loopback of " + baseName);
        await Assert.That(l.DescribeDriver()).IsEqualTo("base_bdev=" + baseName);
        await Assert.That(l.BlockSize).IsEqualTo(b.BlockSize);
        await Assert.That(l.BlockCount).IsEqualTo(b.BlockCount);
        await Assert.That(l.Uuid).IsNotEqualTo(b.Uuid);
        await Assert.That(write1 + read1 + write2 + read2a + zeroes + read3).IsEqualTo(0);
        await Assert.That(read2b).IsEqualTo(-Errno.EINVAL); // 1000 bytes of iovec for 4 blocks
        await Assert.That(same1).IsTrue();
        await Assert.That(r2.HasPattern(12, 0, 2048)).IsTrue();
        await Assert.That(holeInBase).IsTrue();
        await Assert.That(descriptorsOfBase).IsEqualTo(2);
        await Assert.That(aliasGone).IsTrue();
        await Assert.That(descriptorsAfter).IsEqualTo(0);
    }

    [Test]
    public async Task Bdev_scheme_defaults_the_name_and_takes_the_uuid()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("loop-default");
        string baseName = Bdevs.Null("nbase", "num_blocks=300&blk_size=4096");
        Guid uuid = Guid.NewGuid();
        var (rc, alias, _) = CreateOn(t, $"bdev:///{baseName}?uuid={uuid}");
        BlockDevice l = Bdevs.Find(alias!);
        (uint bs, ulong count, Guid lu) = (l.BlockSize, l.BlockCount, l.Uuid);
        Bdevs.DestroyAndWait(alias!, t);
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(alias).IsEqualTo(baseName + "_loop");
        await Assert.That(bs).IsEqualTo(4096U);
        await Assert.That(count).IsEqualTo(300UL);
        await Assert.That(lu).IsEqualTo(uuid);
    }

    [Test]
    public async Task Refused_aliases_leave_the_base_unopened()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("loop-refused");
        string baseName = Bdevs.Malloc("rbase", "size_mb=1");
        BlockDevice b = Bdevs.Find(baseName);
        var noThread = Bdevs.TryCreate($"loopback:///{baseName}");
        var sameUuid = CreateOn(t, $"loopback:///{baseName}?uuid={b.Uuid}");
        var sameName = CreateOn(t, $"loopback:///{baseName}?name={baseName}");
        var badName = CreateOn(t, $"loopback:///{baseName}?name=a%3Fb");
        var badUuid = CreateOn(t, $"loopback:///{baseName}?uuid=zz");
        int descriptors = b.Descriptors.Count;
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(noThread.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(noThread.Message).Contains("no current thread");
        await Assert.That(sameUuid.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(sameName.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(badName.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(badUuid.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(descriptors).IsEqualTo(0);
        await Assert.That(BdevRegistry.Find(baseName + "_loop")).IsNull();
    }

    [Test]
    public async Task Destroying_the_base_destroys_the_alias_then_the_base()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("loop-rm");
        string baseName = Bdevs.Malloc("dbase", "size_mb=1");
        string aliasName = CreateOn(t, $"loopback:///{baseName}").Name!;
        BlockDevice b = Bdevs.Find(baseName), l = Bdevs.Find(aliasName);
        BdevSession s = BdevSession.Open(t, aliasName);
        using var buf = new DmaBuffer(512);
        int before = s.Run(BdevIoType.Write, buf.Pointer, 0, 1);
        bool baseDone = false;

        int destroy = BdevRegistry.Destroy(baseName, _ => baseDone = true);
        bool told = ThreadHost.PollUntil(() => s.Events.Count > 0, t);
        int afterRemove = s.Submit(BdevIoType.Read, buf.Pointer, 0, 1, new IoLog(), 1);
        bool aliasFound = BdevRegistry.Find(aliasName) != null;
        for (int i = 0; i < 5; i++)
        {
            ThreadHost.Poll(t);
        }
        bool baseDoneWhileAliasOpen = baseDone;
        s.Close();
        bool finished = ThreadHost.PollUntil(() => baseDone, t);

        await Assert.That(before).IsEqualTo(0);
        await Assert.That(destroy).IsEqualTo(0);
        await Assert.That(told).IsTrue();
        await Assert.That(Types(s)).IsEqualTo("Remove");
        await Assert.That(s.Events[0].On).IsSameReferenceAs(t);
        await Assert.That(afterRemove).IsEqualTo(-Errno.ENODEV);
        await Assert.That(aliasFound).IsFalse();
        await Assert.That(baseDoneWhileAliasOpen).IsFalse();
        await Assert.That(finished).IsTrue();
        await Assert.That(l.State).IsEqualTo(BdevState.Removed);
        await Assert.That(b.State).IsEqualTo(BdevState.Removed);
    }

    [Test]
    public async Task Resizes_pass_both_ways_and_the_base_decides()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("loop-resize");
        string baseName = Bdevs.Malloc("zbase", "num_blocks=1000");
        string aliasName = CreateOn(t, $"loopback:///{baseName}").Name!;
        BlockDevice b = Bdevs.Find(baseName), l = Bdevs.Find(aliasName);
        BdevSession s = BdevSession.Open(t, aliasName, channel: false);

        int shrinkBase = b.Resize(600);
        ThreadHost.PollUntil(() => s.Events.Count == 1, t);
        ulong aliasAfterBaseShrink = l.BlockCount;
        int shrinkAlias = l.Resize(400);
        ulong baseAfterAliasShrink = b.BlockCount;
        int growTooFar = l.Resize(1001); // malloc refuses: the alias stays as it is
        ThreadHost.PollUntil(() => t.PendingMessages == 0, t);
        ulong aliasAfterRefusal = l.BlockCount;
        s.CloseDesc();
        Bdevs.DestroyAndWait(aliasName, t);
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(shrinkBase).IsEqualTo(0);
        await Assert.That(aliasAfterBaseShrink).IsEqualTo(600UL);
        await Assert.That(shrinkAlias).IsEqualTo(0);
        await Assert.That(baseAfterAliasShrink).IsEqualTo(400UL);
        await Assert.That(growTooFar).IsEqualTo(-Errno.ENOSPC);
        await Assert.That(aliasAfterRefusal).IsEqualTo(400UL);
        await Assert.That(Types(s)).IsEqualTo("Resize,Resize");
    }

    [Test]
    public async Task Backend_errors_pass_through_the_alias()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("loop-errors");
        ScriptedBdev b = ScriptedBdev.Register("sbase");
        b.FailOffset = 7;
        string aliasName = CreateOn(t, $"loopback:///{b.Name}").Name!;
        BdevSession s = BdevSession.Open(t, aliasName);
        using var buf = new DmaBuffer(512);

        int ok = s.Run(BdevIoType.Read, buf.Pointer, 6, 1);
        int failed = s.Run(BdevIoType.Write, buf.Pointer, 7, 1);
        s.Close();
        Bdevs.DestroyAndWait(aliasName, t);
        Bdevs.DestroyAndWait(b.Name, t);

        await Assert.That(ok).IsEqualTo(0);
        await Assert.That(failed).IsEqualTo(-Errno.EIO);
    }

    [Test]
    public async Task Media_events_of_the_base_reach_the_alias_with_their_ranges()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("loop-media");
        string baseName = Bdevs.Null("mbase", "num_blocks=100");
        string aliasName = CreateOn(t, $"loopback:///{baseName}").Name!;
        BlockDevice b = Bdevs.Find(baseName), l = Bdevs.Find(aliasName);
        BdevSession s = BdevSession.Open(t, aliasName, channel: false);

        int rc = BdevRegistry.NotifyMediaManagement(b, 10, 5);
        ThreadHost.PollUntil(() => s.Events.Count == 1, t);
        var ranges = new (ulong, ulong)[4];
        int viaAlias = BdevRegistry.TakeMediaEvents(l, ranges);
        s.CloseDesc();
        Bdevs.DestroyAndWait(aliasName, t);
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(Types(s)).IsEqualTo("MediaManagement");
        await Assert.That(viaAlias).IsEqualTo(1);
        await Assert.That(ranges[0]).IsEqualTo((10UL, 5UL));
    }
}
