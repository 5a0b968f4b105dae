using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Targets;

/// <summary>Namespace changes end to end, our initiator against our target: the target's
/// namespace attribute notice (AER, log page 04h) makes the host re-read its namespaces — a
/// resized backing bdev is a RESIZE of the host's bdev with the new block count, a removed
/// namespace a REMOVE (the bdev goes), a namespace added a new bdev when the URI attached the
/// controller whole (no nsid=).</summary>
[NotInParallel(Keys.Threads)]
public class NvmfNamespaceEventTests
{
    [Test]
    public async Task Resize_remove_and_add_on_the_target_reach_the_hosts_bdevs()
    {
        using var target = new NvmfTargetRunner();
        string first = Bdevs.Malloc("ns-ev1", "size_mb=4&blk_size=512");
        string second = Bdevs.Malloc("ns-ev2", "size_mb=2&blk_size=512");
        string nqn = $"nqn.2026-12.io.nativebdev:{Bdevs.Unique("nsev")}";
        int port = target.Export(nqn, first);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nsev-host");
        string name1 = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}");
        BdevSession s1 = BdevSession.Open(t, name1);
        ulong before = s1.Bdev.BlockCount;

        // The backing bdev shrinks (a malloc bdev grows only back to its size): the host's
        // bdev follows, with a RESIZE.
        int shrink = target.Run(_ => Bdevs.Find(first).Resize(6144)).Result;
        bool resized = ThreadHost.PollUntil(() => s1.Events.Any(e => e.Type == BdevEventType.Resize), t);
        ulong after = s1.Bdev.BlockCount;

        // A namespace added: a bdev of its own, named as the first, which reads what it writes.
        int nsid2 = target.Check(tg => tg.AddNamespace(nqn, second, 0, Guid.NewGuid(), null, 0));
        string name2 = name1[..^1] + nsid2;
        bool added = ThreadHost.PollUntil(() => BdevRegistry.Find(name2) != null, t);
        int io2 = -1;
        bool same = false;
        ulong blocks2 = 0;
        if (added)
        {
            BdevSession s2 = BdevSession.Open(t, name2);
            blocks2 = s2.Bdev.BlockCount;
            using var w = new DmaBuffer(8192);
            using var r = new DmaBuffer(8192);
            w.Fill(seed: 42);
            io2 = s2.Run(BdevIoType.Write, w.Pointer, 100, 16);
            if (io2 == 0)
            {
                io2 = s2.Run(BdevIoType.Read, r.Pointer, 100, 16);
                same = r.HasPattern(seed: 42);
            }
            s2.Close();
        }

        // The first namespace removed: REMOVE, and the bdev goes once its descriptor closes.
        target.Check(tg => tg.RemoveNamespace(nqn, 1));
        bool removed = ThreadHost.PollUntil(() => s1.Events.Any(e => e.Type == BdevEventType.Remove), t);
        s1.Close();
        bool gone = ThreadHost.PollUntil(() => BdevRegistry.Find(name1) == null, t);

        if (added)
        {
            Bdevs.DestroyAndWait(name2, t);
        }
        Bdevs.DestroyAndWait(first, t);
        Bdevs.DestroyAndWait(second, t);
        await Assert.That(before).IsEqualTo(8192UL);
        await Assert.That(shrink).IsEqualTo(0);
        await Assert.That(resized).IsTrue();
        await Assert.That(after).IsEqualTo(6144UL);
        await Assert.That(nsid2).IsEqualTo(2);
        await Assert.That(added).IsTrue();
        await Assert.That(blocks2).IsEqualTo(4096UL);
        await Assert.That(io2).IsEqualTo(0);
        await Assert.That(same).IsTrue();
        await Assert.That(removed).IsTrue();
        await Assert.That(gone).IsTrue();
    }

    [Test]
    public async Task A_uri_that_pins_nsid_gets_no_bdev_for_a_new_namespace()
    {
        using var target = new NvmfTargetRunner();
        string first = Bdevs.Malloc("ns-pin1");
        string second = Bdevs.Malloc("ns-pin2");
        string nqn = $"nqn.2026-12.io.nativebdev:{Bdevs.Unique("nspin")}";
        int port = target.Export(nqn, first);
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nspin-host");
        string name = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}?nsid=1&name={Bdevs.Unique("pinned")}");
        target.Check(tg => tg.AddNamespace(nqn, second, 0, Guid.NewGuid(), null, 0));
        // Time for the notice, the log page and the identify to go round (well under 100 ms here).
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 1500)
        {
            ThreadHost.Poll(t);
            Thread.Sleep(5);
        }
        bool attached = BdevRegistry.Find($"127.0.0.1:{port}/{nqn}n2") != null;
        bool known = NativeBdev.Nvme.NvmeController.Find($"127.0.0.1:{port}/{nqn}")?.TryGetNamespace(2, out _) == true;
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(first, t);
        Bdevs.DestroyAndWait(second, t);
        await Assert.That(known).IsTrue();    // the host did hear of it
        await Assert.That(attached).IsFalse();
    }
}
