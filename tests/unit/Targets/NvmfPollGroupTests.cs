using NativeBdev.Bdev;
using NativeBdev.Reactor;
using NativeBdev.Targets.Nvmf;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Targets;

/// <summary>The target's poll groups (runtime/Targets/Nvmf/NvmfPollGroup.cs): with two threads,
/// four I/O queues of one controller land two on each (round robin, the admin queue on the
/// target's thread), each thread serving its own; I/O through every queue reads back; and the
/// counters go back to zero when the host leaves.</summary>
[NotInParallel(Keys.Threads)]
public class NvmfPollGroupTests
{
    private static (long Admin, long Io, long CurrentIo, long Completed)[] Stats(NvmfTargetRunner target) =>
        target.Run(t => t.PollGroups.Select(g => (Volatile.Read(ref g.AdminQpairs), Volatile.Read(ref g.IoQpairs),
            Volatile.Read(ref g.CurrentIoQpairs), Volatile.Read(ref g.CompletedIo))).ToArray()).Result;

    [Test]
    public async Task Four_io_queues_spread_over_two_poll_groups_and_each_serves_its_io()
    {
        using var target = new NvmfTargetRunner(pollGroups: 2);
        string malloc = Bdevs.Malloc("pg-backing", "size_mb=8&blk_size=512");
        string nqn = $"nqn.2026-12.io.nativebdev:{Bdevs.Unique("pg")}";
        int port = target.Export(nqn, malloc);
        using var host = new ThreadHost();
        string name = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}?num_io_queues=4");
        // One I/O queue per host thread with a channel: four threads, four queues.
        var threads = Enumerable.Range(0, 4).Select(i => host.Create($"pg-host{i}")).ToArray();
        var sessions = threads.Select(t => BdevSession.Open(t, name)).ToArray();
        using var w = new DmaBuffer(1 << 20);
        using var r = new DmaBuffer(1 << 20);
        var failures = new List<string>();
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < sessions.Length; i++)
            {
                // 4 KiB in the capsule, 256 KiB by R2T and split at the 128 KiB MDTS.
                int bytes = round == 1 ? 256 << 10 : 4096;
                ulong lba = (ulong)(i * 1024 + round * 600);
                w.Fill(seed: i * 10 + round, length: bytes);
                r.FillByte(0);
                int wr = sessions[i].Run(BdevIoType.Write, w.Pointer, lba, (ulong)bytes / 512);
                int rd = sessions[(i + 1) % sessions.Length].Run(BdevIoType.Read, r.Pointer, lba, (ulong)bytes / 512);
                if (wr != 0 || rd != 0 || !r.HasPattern(seed: i * 10 + round, length: bytes))
                {
                    failures.Add($"queue of thread {i}, round {round}: write {wr}, read {rd} (through the next queue)");
                }
            }
        }
        var during = Stats(target);
        foreach (BdevSession s in sessions)
        {
            s.Close();
        }
        Bdevs.DestroyAndWait(name, threads[0]);
        bool drained = SpinWait.SpinUntil(() => Stats(target).All(g => g.CurrentIo == 0), TimeSpan.FromSeconds(10));
        Bdevs.DestroyAndWait(malloc, threads[0]);
        await Assert.That(failures).IsEmpty();
        await Assert.That(during.Length).IsEqualTo(2);
        await Assert.That(during[0].Admin).IsEqualTo(1L);   // the admin queue stays with the target
        await Assert.That(during[1].Admin).IsEqualTo(0L);
        await Assert.That(during[0].CurrentIo).IsEqualTo(2L);
        await Assert.That(during[1].CurrentIo).IsEqualTo(2L);
        await Assert.That(during[0].Io + during[1].Io).IsEqualTo(4L);
        // Both threads did I/O: 4 queues x (a write and a read) x 3 rounds, the 256 KiB round
        // two NVMe commands each (MDTS 128 KiB): 8 + 16 + 8.
        await Assert.That(during[0].Completed).IsGreaterThan(0L);
        await Assert.That(during[1].Completed).IsGreaterThan(0L);
        await Assert.That(during[0].Completed + during[1].Completed).IsEqualTo(32L);
        await Assert.That(drained).IsTrue();
    }

    [Test]
    public async Task Stopping_the_target_closes_the_queues_of_every_poll_group()
    {
        using var target = new NvmfTargetRunner(pollGroups: 2);
        string malloc = Bdevs.Malloc("pg-stop");
        string nqn = $"nqn.2026-12.io.nativebdev:{Bdevs.Unique("pgstop")}";
        int port = target.Export(nqn, malloc);
        using var host = new ThreadHost();
        string name = Bdevs.Create($"nvmf://127.0.0.1:{port}/{nqn}?num_io_queues=2&ctrlr_loss_timeout_s=1" +
            "&reconnect_delay_ms=100");
        var threads = Enumerable.Range(0, 2).Select(i => host.Create($"pg-stop{i}")).ToArray();
        var sessions = threads.Select(t => BdevSession.Open(t, name)).ToArray();
        using var w = new DmaBuffer(4096);
        int first = sessions[0].Run(BdevIoType.Write, w.Pointer, 0, 8);
        int second = sessions[1].Run(BdevIoType.Write, w.Pointer, 8, 8);
        var before = Stats(target);
        int stop = target.Run(t => t.Stop()).Result;
        bool closed = SpinWait.SpinUntil(() => target.Run(t => t.ConnectionCount).Result == 0,
            TimeSpan.FromSeconds(10));
        foreach (BdevSession s in sessions)
        {
            s.Close();
        }
        Bdevs.DestroyAndWait(name, threads[0]);
        Bdevs.DestroyAndWait(malloc, threads[0]);
        await Assert.That(first).IsEqualTo(0);
        await Assert.That(second).IsEqualTo(0);
        await Assert.That(before[1].CurrentIo).IsEqualTo(1L);
        await Assert.That(stop).IsEqualTo(0);
        await Assert.That(closed).IsTrue();
    }
}
