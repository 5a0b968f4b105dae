using NativeBdev.Modules.Nexus;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules;

/// <summary>The composite bdevs' I/O paths allocate nothing per I/O: raid0 splitting every I/O
/// at its strips, concat, a split part, and a nexus healthy and degraded (a child faulted, so
/// every write is logged), each I/O resubmitted from the completion of an earlier one.</summary>
[NotInParallel(Keys.Threads)]
public class CompositeAllocationTests
{
    private static (long Bytes, int Errors, int Completed) Chain(LightweightThread t, string name, int depth)
    {
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096).Fill(seed: 1);
        var chain = new IoChain(s.Channel, s.Desc, buf.Pointer, s.Bdev.BlockCount);
        chain.Run(t, 4_000, depth); // warm: every base sees an I/O (its histogram is made on its first)
        long bytes = chain.Run(t, 20_000, depth);
        s.Close();
        return (bytes, chain.Errors, chain.Completed);
    }

    [Test]
    [Arguments("raid0", 1)]
    [Arguments("raid0", 32)]
    [Arguments("concat", 32)]
    public async Task Raid_io_allocates_nothing(string level, int depth)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create($"raid-alloc-{level}-{depth}");
        string a = Bdevs.Malloc("ra"), b = Bdevs.Malloc("rb");
        string name = Bdevs.Unique(level);
        // 2 KiB strips: every 4 KiB I/O of the chain is two children.
        Bdevs.Bound(t, () => Bdevs.Create($"{level}:///{name}?strip_size_kb=2&base_bdevs={a},{b}"));
        var (bytes, errors, completed) = Chain(t, name, depth);
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(completed).IsEqualTo(20_000);
        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(bytes).IsEqualTo(0L);
    }

    [Test]
    public async Task Split_io_allocates_nothing()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("split-alloc");
        string a = Bdevs.Malloc("sa");
        string part = Bdevs.Bound(t, () => Bdevs.Create($"split:///{a}?split_count=2"));
        var (bytes, errors, completed) = Chain(t, part, 32);
        Bdevs.DestroyAndWait(a, t);

        await Assert.That(completed).IsEqualTo(20_000);
        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(bytes).IsEqualTo(0L);
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task Nexus_io_allocates_nothing(bool degraded)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create($"nexus-alloc-{degraded}");
        string a = Bdevs.Malloc("na"), b = Bdevs.Malloc("nb");
        string name = Bdevs.Unique("nexus");
        Bdevs.Bound(t, () => Bdevs.Create($"nexus:///{name}?children={a},{b}"));
        var n = (NexusBdev)Bdevs.Find(name);
        if (degraded)
        {
            Bdevs.Bound(t, () => n.Fault(b, NexusFaultReason.AdminFailed));
            ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        }
        var (bytes, errors, completed) = Chain(t, name, 32);
        bool logging = n.LoggingActive != 0;
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(b, t);

        await Assert.That(completed).IsEqualTo(20_000);
        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(bytes).IsEqualTo(0L);
        await Assert.That(logging).IsEqualTo(degraded);
    }
}
