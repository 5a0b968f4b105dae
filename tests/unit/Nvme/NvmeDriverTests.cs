using System.Collections.Concurrent;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Modules.Nvme;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Pcie;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Nvme;

/// <summary>Simulated controllers by PCI address, found by the driver through
/// <see cref="PciFunction.Simulated"/>. Each test takes an address of its own.</summary>
internal static class SimulatedBus
{
    private static readonly ConcurrentDictionary<string, SimulatedNvmeController> s_devices = new();
    private static int s_next;

    static SimulatedBus() => PciFunction.Simulated = a => s_devices.TryRemove(a, out var d) ? d : null;

    /// <summary>A new simulated controller at a fresh address (taken by the first attach).</summary>
    public static SimulatedNvmeController Plug(ulong blocks = 65536)
    {
        TestEnv.Ensure();
        string address = $"0000:ee:{Interlocked.Increment(ref s_next) % 32:x2}.{s_next / 32 % 8}";
        var sim = new SimulatedNvmeController(address, blocks);
        s_devices[address] = sim;
        return sim;
    }
}

/// <summary>The user-space NVMe driver against the simulated controller: bring-up, data
/// through PRP lists, splitting at MDTS, passthrough, the DMA-buffer rules, and the failure
/// paths QEMU's controller cannot produce on demand (never ready, lost commands, fatal
/// status, namespace resize events). The guest tests (tests/vm) run the same driver on
/// QEMU's emulated controller.</summary>
[NotInParallel(Keys.Threads)]
public class NvmeDriverTests
{
    private static (SimulatedNvmeController Sim, string Name) Attach(string query = "", ulong blocks = 65536)
    {
        SimulatedNvmeController sim = SimulatedBus.Plug(blocks);
        string name = Bdevs.Create($"pcie:///{sim.Address}/1{(query.Length > 0 ? "?" + query : "")}");
        return (sim, name);
    }

    [Test]
    public async Task Attach_identifies_the_controller_and_its_namespace()
    {
        var (sim, name) = Attach(blocks: 40000);
        var bdev = (NvmeBdev)Bdevs.Find(name);
        NvmeController c = bdev.Controller;
        await Assert.That(name).IsEqualTo($"{sim.Address}n1");
        await Assert.That(bdev.ProductName).IsEqualTo(SimulatedNvmeController.Model);
        await Assert.That(bdev.BlockSize).IsEqualTo(512u);
        await Assert.That(bdev.BlockCount).IsEqualTo(40000UL);
        await Assert.That(c.Serial).IsEqualTo("SIM0001");
        await Assert.That(c.MaxTransferBytes).IsEqualTo(128u * 1024);
        await Assert.That(c.State).IsEqualTo(NvmeControllerState.Ready);
        await Assert.That(sim.BusMaster).IsTrue();
        await Assert.That(bdev.IoTypeSupported(BdevIoType.Unmap)).IsTrue();
        await Assert.That(bdev.IoTypeSupported(BdevIoType.WriteZeroes)).IsTrue();
        // A second namespace bdev of the same controller is refused (the only one is taken).
        var again = Bdevs.TryCreate($"pcie:///{sim.Address}/1");
        await Assert.That(again.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(Bdevs.DestroyAndWait(name)).IsTrue();
        await Assert.That(sim.ShutdownCount).IsEqualTo(1); // CC.SHN on detach
        await Assert.That(NvmeController.Find(sim.Address)).IsNull();
    }

    [Test]
    [Arguments("pcie:///", "expected pcie:///")]
    [Arguments("pcie:///0000:00:04.0/1/2", "expected pcie:///")]
    [Arguments("pcie:///00:04/1", "not a PCI address")]
    [Arguments("pcie:///0000:00:20.0/1", "not a PCI address")]
    [Arguments("pcie:///0000:00:04.0/0", "namespace id")]
    [Arguments("pcie:///0000:00:04.0/x", "namespace id")]
    [Arguments("pcie:///0000:00:04.0/1?mode=dpdk", "mode=")]
    [Arguments("pcie:///0000:00:04.0/1?timeout_ms=-1", "timeout_ms")]
    [Arguments("pcie:///0000:00:04.0/1?queue_depth=8", "queue_depth")]
    [Arguments("pcie:///0000:00:04.0?name=a", "name= needs a namespace")]
    [Arguments("pcie://host/0000:00:04.0/1", "local")]
    public async Task Malformed_uris_are_refused_with_a_message(string uri, string fragment)
    {
        var (rc, _, message) = Bdevs.TryCreate(uri);
        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(message).Contains(fragment);
    }

    [Test]
    public async Task A_missing_device_is_ENODEV()
    {
        var (rc, _, message) = Bdevs.TryCreate("pcie:///0000:7e:1f.7/1");
        await Assert.That(rc).IsEqualTo(-Errno.ENODEV);
        await Assert.That(message).Contains("no PCI device 0000:7e:1f.7");
    }

    [Test]
    public async Task A_controller_that_never_becomes_ready_fails_the_attach()
    {
        SimulatedNvmeController sim = SimulatedBus.Plug();
        sim.NeverReady = true;
        var (rc, _, message) = Bdevs.TryCreate($"pcie:///{sim.Address}/1");
        await Assert.That(rc).IsEqualTo(-Errno.ETIMEDOUT);
        await Assert.That(message).Contains("did not become ready within 2000 ms");
        await Assert.That(NvmeController.Find(sim.Address)).IsNull();
    }

    [Test]
    public async Task A_namespace_the_controller_lacks_is_ENODEV_and_detaches_it()
    {
        SimulatedNvmeController sim = SimulatedBus.Plug();
        var (rc, _, message) = Bdevs.TryCreate($"pcie:///{sim.Address}/2");
        await Assert.That(rc).IsEqualTo(-Errno.ENODEV);
        await Assert.That(message).Contains("no active namespace 2 (active: 1)");
        await Assert.That(NvmeController.Find(sim.Address)).IsNull();
        await Assert.That(sim.ShutdownCount).IsEqualTo(1);
    }

    [Test]
    public async Task Data_survives_every_size_and_buffer_offset()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-data");
        var (sim, name) = Attach();
        BdevSession s = BdevSession.Open(t, name);
        using var w = new DmaBuffer(1 << 20);
        using var r = new DmaBuffer(1 << 20);
        var failures = new List<string>();
        // 1 block; 2 pages from mid-page (PRP2 an entry); 20 KiB (a PRP list); 600 KiB
        // from offset 512 (split at the 128 KiB MDTS, a list per command).
        foreach (var (bytes, offset, lba) in
            new[] { (512, 0, 0UL), (4096, 2048, 7UL), (20480, 0, 100UL), (600 * 1024, 512, 1000UL) })
        {
            w.Fill(seed: bytes, offset: offset, length: bytes);
            r.FillByte(0);
            int wr = s.Run(BdevIoType.Write, w.At(offset), lba, (ulong)bytes / 512);
            int rd = s.Run(BdevIoType.Read, r.At(offset), lba, (ulong)bytes / 512);
            bool same = r.HasPattern(seed: bytes, offset: offset, length: bytes);
            bool onDevice = sim.Medium((long)lba * 512, bytes).SequenceEqual(w.Span.Slice(offset, bytes));
            if (wr != 0 || rd != 0 || !same || !onDevice)
            {
                failures.Add($"{bytes} bytes at +{offset}: write {wr} read {rd} same {same} on device {onDevice}");
            }
        }
        long commands = sim.IoCommands;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(failures).IsEmpty();
        // 600 KiB at 128 KiB per command is 5 commands each way, the others one.
        await Assert.That(commands).IsEqualTo(2L * (1 + 1 + 1 + 5));
    }

    [Test]
    public async Task Vectored_io_is_described_with_a_prp_list()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-vec");
        var (sim, name) = Attach();
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(64 * 1024);
        buf.Fill(seed: 3);
        // From mid-page to the page end, two pages, one page, a block: 5 PRP entries.
        using var iovs = new IovArray(buf.At(512), 3584, 8192, 4096, 1024);
        const int total = 3584 + 8192 + 4096 + 1024;
        int wr = s.RunV(BdevIoType.Write, iovs, 50, total / 512);
        bool onDevice = sim.Medium(50 * 512, total).SequenceEqual(buf.Span.Slice(512, total));
        buf.FillByte(0);
        int rd = s.RunV(BdevIoType.Read, iovs, 50, total / 512);
        bool back = buf.HasPattern(seed: 3, offset: 512, length: total);
        // Iovecs meeting inside a page cannot be PRPs; heap memory is not reachable.
        using var bad = new IovArray(buf.At(0), 1024, 3072);
        LastError.Clear();
        int rcBad = s.RunV(BdevIoType.Write, bad, 0, 8);
        string badMessage = LastError.Message;
        int rcHeap = NvmeTestIo.ReadIntoHeap(s);
        string heapMessage = LastError.Message;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(wr).IsEqualTo(0);
        await Assert.That(onDevice).IsTrue();
        await Assert.That(rd).IsEqualTo(0);
        await Assert.That(back).IsTrue();
        await Assert.That(rcBad).IsEqualTo(-Errno.EINVAL);
        await Assert.That(badMessage).Contains("page boundaries");
        await Assert.That(rcHeap).IsEqualTo(-Errno.EINVAL);
        await Assert.That(heapMessage).Contains("nb_dma_malloc");
    }

    [Test]
    public async Task Write_zeroes_and_deallocate_clear_the_range()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-zero");
        var (sim, name) = Attach(blocks: 200000);
        BdevSession s = BdevSession.Open(t, name);
        sim.Medium(0, 200000 * 512).Fill(0xAB);
        // 70000 blocks: two write-zeroes commands (65536 blocks each at most).
        int wz = s.Run(BdevIoType.WriteZeroes, 0, 10, 70000);
        int un = s.Run(BdevIoType.Unmap, 0, 100000, 5000);
        int fl = s.Run(BdevIoType.Flush, 0, 0, 0);
        bool zeroed = !sim.Medium(10 * 512, 70000 * 512).ContainsAnyExcept((byte)0);
        bool edges = sim.Medium(9 * 512, 1)[0] == 0xAB && sim.Medium(70010 * 512, 1)[0] == 0xAB;
        bool unmapped = !sim.Medium(100000 * 512, 5000 * 512).ContainsAnyExcept((byte)0);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(wz).IsEqualTo(0);
        await Assert.That(un).IsEqualTo(0);
        await Assert.That(fl).IsEqualTo(0);
        await Assert.That(zeroed).IsTrue();
        await Assert.That(edges).IsTrue();
        await Assert.That(unmapped).IsTrue();
    }

    [Test]
    public async Task Admin_passthrough_returns_data_and_status_and_refuses_queue_management()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-admin");
        var (_, name) = Attach();
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        var identify = new NvmeCommand { Opcode = NvmeSpec.AdminIdentify, Cdw10 = NvmeSpec.CnsController };
        var (rc, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeAdmin, identify, buf.Pointer, 4096);
        string model = System.Text.Encoding.ASCII.GetString(buf.Span.Slice(NvmeSpec.IdCtrlModel, 40)).TrimEnd();
        var (badRc, badIo) = NvmeTestIo.Passthru(s, BdevIoType.NvmeAdmin, new NvmeCommand { Opcode = 0x80 }, 0, 0);
        var (queueRc, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeAdmin,
            new NvmeCommand { Opcode = NvmeSpec.AdminCreateIoSq }, 0, 0);
        string queueMessage = LastError.Message;
        var (readRc, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeIo,
            new NvmeCommand { Opcode = NvmeSpec.IoRead, Cdw12 = 7 }, buf.Pointer, 4096);
        // Buffers shorter than the command's transfer, and data commands without one.
        var (shortIdentify, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeAdmin, identify, buf.Pointer, 512);
        var (shortRead, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeIo,
            new NvmeCommand { Opcode = NvmeSpec.IoRead, Cdw12 = 15 }, buf.Pointer, 4096);
        var (noBuffer, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeAdmin, new NvmeCommand { Opcode = 0xC2 }, 0, 0);
        var (doorbells, _) = NvmeTestIo.Passthru(s, BdevIoType.NvmeAdmin, new NvmeCommand { Opcode = 0x7C },
            buf.Pointer, 4096);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(model).IsEqualTo(SimulatedNvmeController.Model);
        await Assert.That(badRc).IsEqualTo(-Errno.EIO);
        await Assert.That(badIo).IsEqualTo(((ushort)0, (ushort)NvmeSpec.ScInvalidOpcode));
        await Assert.That(queueRc).IsEqualTo(-Errno.EPERM);
        await Assert.That(queueMessage).Contains("not allowed as passthrough");
        await Assert.That(readRc).IsEqualTo(0);
        await Assert.That(shortIdentify).IsEqualTo(-Errno.EINVAL);
        await Assert.That(shortRead).IsEqualTo(-Errno.EINVAL);
        await Assert.That(noBuffer).IsEqualTo(-Errno.EINVAL);
        await Assert.That(doorbells).IsEqualTo(-Errno.EPERM);
    }

    [Test]
    public async Task Io_passthrough_lost_in_a_reset_is_reported_aborted_not_run_again()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-ptreset");
        var (sim, name) = Attach("timeout_ms=200");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        sim.SwallowIo = 1;
        sim.IgnoreAborts = true;
        long before = sim.IoCommands;
        var (rc, status) = NvmeTestIo.Passthru(s, BdevIoType.NvmeIo,
            new NvmeCommand { Opcode = NvmeSpec.IoRead, Cdw12 = 7 }, buf.Pointer, 4096);
        long executed = sim.IoCommands - before;
        long resets = ((NvmeBdev)s.Bdev).Controller.ResetCount;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(rc).IsEqualTo(-Errno.EIO);
        await Assert.That(status).IsEqualTo(((ushort)NvmeSpec.SctGeneric, (ushort)NvmeSpec.ScAbortedSqDeletion));
        await Assert.That(resets).IsEqualTo(1L);
        await Assert.That(executed).IsEqualTo(1L); // swallowed once, never sent again
    }

    [Test]
    public async Task A_lost_command_is_aborted_after_the_timeout()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-abort");
        var (sim, name) = Attach("timeout_ms=200");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        sim.SwallowIo = 1;
        int rc = s.Run(BdevIoType.Read, buf.Pointer, 0, 8);
        int after = s.Run(BdevIoType.Read, buf.Pointer, 0, 8);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(rc).IsEqualTo(-Errno.ETIMEDOUT);
        await Assert.That(sim.AbortCount).IsEqualTo(1);
        await Assert.That(after).IsEqualTo(0);
    }

    [Test]
    public async Task Lost_commands_that_abort_cannot_reach_are_resubmitted_after_a_reset()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-reset");
        var (sim, name) = Attach("timeout_ms=200");
        var bdev = (NvmeBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(8 * 4096);
        buf.Fill(seed: 9);
        // Three of eight writes vanish and aborts find nothing: a timeout after the abort
        // resets the controller, and the driver submits the three again.
        sim.SwallowIo = 3;
        sim.IgnoreAborts = true;
        var log = new IoLog();
        for (int i = 0; i < 8; i++)
        {
            s.Submit(BdevIoType.Write, buf.At(i * 4096), (ulong)i * 8, 8, log, i);
        }
        bool done = ThreadHost.PollUntil(() => log.Count == 8, t);
        string statuses = string.Join(",", log.Done.Select(d => d.Status).Distinct());
        bool onDevice = sim.Medium(0, 8 * 4096).SequenceEqual(buf.Span);
        long resets = bdev.Controller.ResetCount;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(done).IsTrue();
        await Assert.That(statuses).IsEqualTo("0");
        await Assert.That(onDevice).IsTrue();
        await Assert.That(sim.AbortRequests).IsEqualTo(3);
        await Assert.That(resets).IsEqualTo(1L);
    }

    [Test]
    public async Task A_fatal_controller_status_resets_it_and_io_continues()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-cfs");
        var (sim, name) = Attach();
        var bdev = (NvmeBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        buf.Fill(seed: 4);
        int before = s.Run(BdevIoType.Write, buf.Pointer, 80, 8);
        sim.RaiseFatal();
        bool reset = ThreadHost.PollUntil(
            () => bdev.Controller.ResetCount == 1 && bdev.Controller.State == NvmeControllerState.Ready, t);
        buf.FillByte(0);
        int after = s.Run(BdevIoType.Read, buf.Pointer, 80, 8);
        bool data = buf.HasPattern(seed: 4);
        int enables = sim.EnableCount;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(before).IsEqualTo(0);
        await Assert.That(reset).IsTrue();
        await Assert.That(after).IsEqualTo(0);
        await Assert.That(data).IsTrue();
        await Assert.That(enables).IsEqualTo(2);
    }

    [Test]
    public async Task A_controller_that_does_not_come_back_retires_its_bdevs_until_a_reset_recovers_it()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-failed");
        var (sim, name) = Attach();
        var bdev = (NvmeBdev)Bdevs.Find(name);
        NvmeController c = bdev.Controller;
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        sim.NeverReady = true;
        sim.RaiseFatal(); // the reset this starts times out waiting for CSTS.RDY
        bool failed = ThreadHost.PollUntil(() => c.State == NvmeControllerState.Failed &&
            s.Events.Any(e => e.Type == BdevEventType.Failed), t);
        string? reason = bdev.FailureReason;
        int whileFailed = s.Run(BdevIoType.Read, buf.Pointer, 0, 8);
        sim.NeverReady = false;
        int resetRc = c.RequestReset("test: the device is back", null);
        bool back = ThreadHost.PollUntil(() => c.State == NvmeControllerState.Ready, t);
        int cleared = DeviceMonitor.Clear(bdev);
        int after = s.Run(BdevIoType.Read, buf.Pointer, 0, 8);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(failed).IsTrue();
        await Assert.That(reason).Contains("did not become ready");
        await Assert.That(whileFailed).IsEqualTo(-Errno.EIO);
        await Assert.That(resetRc).IsEqualTo(0);
        await Assert.That(back).IsTrue();
        await Assert.That(cleared).IsEqualTo(0);
        await Assert.That(after).IsEqualTo(0);
    }

    [Test]
    public async Task A_reset_in_the_middle_of_io_loses_no_acknowledged_write()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-midreset");
        var (sim, name) = Attach();
        var bdev = (NvmeBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        const int writes = 512;
        using var buf = new DmaBuffer(writes * 4096);
        buf.Fill(seed: 12);
        var log = new IoLog();
        for (int i = 0; i < writes; i++)
        {
            s.Submit(BdevIoType.Write, buf.At(i * 4096), (ulong)i * 8, 8, log, i);
            if (i == writes / 2)
            {
                bdev.Controller.RequestReset("test", null);
            }
            if (i % 64 == 0)
            {
                ThreadHost.Poll(t);
            }
        }
        bool done = ThreadHost.PollUntil(() => log.Count == writes, t);
        bool ready = ThreadHost.PollUntil(() => bdev.Controller.State == NvmeControllerState.Ready, t);
        bool onDevice = sim.Medium(0, writes * 4096).SequenceEqual(buf.Span);
        string statuses = string.Join(",", log.Done.Select(d => d.Status).Distinct());
        long resets = bdev.Controller.ResetCount;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(done).IsTrue();
        await Assert.That(ready).IsTrue();
        await Assert.That(statuses).IsEqualTo("0");
        await Assert.That(onDevice).IsTrue();
        await Assert.That(resets).IsEqualTo(1L);
    }

    [Test]
    public async Task A_namespace_size_change_event_resizes_the_bdev()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-aer");
        var (sim, name) = Attach(blocks: 10000);
        BdevSession s = BdevSession.Open(t, name);
        sim.Resize(25000);
        bool resized = ThreadHost.PollUntil(() => s.Events.Any(e => e.Type == BdevEventType.Resize), t);
        ulong blocks = s.Bdev.BlockCount;
        using var buf = new DmaBuffer(4096);
        int beyond = s.Run(BdevIoType.Write, buf.Pointer, 20000, 8);
        // The host cannot resize a namespace through the bdev: the device owns its size.
        int userResize = s.Bdev.Resize(30000);
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(resized).IsTrue();
        await Assert.That(blocks).IsEqualTo(25000UL);
        await Assert.That(beyond).IsEqualTo(0);
        await Assert.That(userResize).IsEqualTo(-Errno.ENOTSUP);
    }

    [Test]
    public async Task A_namespace_that_goes_away_is_hot_removed_and_the_controller_detached()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-nsgone");
        var (sim, name) = Attach();
        BdevSession s = BdevSession.Open(t, name);
        string address = sim.Address;
        sim.DetachNamespace();
        bool removed = ThreadHost.PollUntil(() => s.Events.Any(e => e.Type == BdevEventType.Remove), t);
        s.Close(); // the host closes on REMOVE, as SPDK hosts do
        bool gone = ThreadHost.PollUntil(
            () => BdevRegistry.Find(name) == null && NvmeController.Find(address) == null, t);
        await Assert.That(removed).IsTrue();
        await Assert.That(gone).IsTrue();
        await Assert.That(sim.ShutdownCount).IsEqualTo(1);
    }

    [Test]
    public async Task Two_threads_get_queue_pairs_of_their_own()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("nvme-qa"), b = host.Create("nvme-qb");
        var (_, name) = Attach();
        BdevSession sa = BdevSession.Open(a, name), sb = BdevSession.Open(b, name);
        var qa = (NvmeChannel)sa.Channel.Module;
        var qb = (NvmeChannel)sb.Channel.Module;
        bool connected = ThreadHost.PollUntil(() => qa.Qpair.Connected && qb.Qpair.Connected, a, b);
        using var wa = new DmaBuffer(4096);
        using var wb = new DmaBuffer(4096);
        wa.Fill(1);
        wb.Fill(2);
        int ra = sa.Run(BdevIoType.Write, wa.Pointer, 0, 8), rb = sb.Run(BdevIoType.Write, wb.Pointer, 8, 8);
        ushort ida = qa.Qpair.Queue.Id, idb = qb.Qpair.Queue.Id;
        sa.Close();
        sb.Close();
        Bdevs.DestroyAndWait(name, a, b);
        await Assert.That(connected).IsTrue();
        await Assert.That(ida).IsNotEqualTo(idb);
        await Assert.That(ra).IsEqualTo(0);
        await Assert.That(rb).IsEqualTo(0);
    }

    [Test]
    public async Task Namespaces_of_a_controller_share_one_queue_pair_per_thread()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-share");
        var (_, name) = Attach();
        // A second namespace bdev of the same controller (the simulated controller has one
        // namespace: the same one again, under another name and UUID).
        var first = (NvmeBdev)Bdevs.Find(name);
        first.Controller.TryGetNamespace(1, out NvmeNamespaceInfo ns);
        first.Controller.AddRef();
        string other = name + "-second";
        var second = new NvmeBdev(other, first.Controller, ns with { Uuid = Guid.NewGuid() });
        int registered = BdevRegistry.Register(second);
        BdevSession a = BdevSession.Open(t, name), b = BdevSession.Open(t, other);
        var qa = ((NvmeChannel)a.Channel.Module).Qpair;
        var qb = ((NvmeChannel)b.Channel.Module).Qpair;
        bool connected = ThreadHost.PollUntil(() => qa.Connected, t);
        using var w = new DmaBuffer(4096);
        w.Fill(3);
        int ra = a.Run(BdevIoType.Write, w.Pointer, 0, 8), rb = b.Run(BdevIoType.Read, w.Pointer, 0, 8);
        int pollers = t.PollerCount;
        a.Close();
        b.Close();
        Bdevs.DestroyAndWait(other, t);
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(registered).IsEqualTo(0);
        await Assert.That(connected).IsTrue();
        await Assert.That(ReferenceEquals(qa, qb)).IsTrue();
        await Assert.That(ra).IsEqualTo(0);
        await Assert.That(rb).IsEqualTo(0);
        await Assert.That(pollers).IsEqualTo(2); // the bdev layer's and the queue pair's, for both bdevs
    }

    [Test]
    public async Task The_io_path_allocates_nothing()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nvme-alloc");
        var (_, name) = Attach();
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096);
        ThreadHost.PollUntil(() => ((NvmeChannel)s.Channel.Module).Qpair.Connected, t);
        var chain = new IoChain(s.Channel, s.Desc, buf.Pointer, s.Bdev.BlockCount);
        chain.Run(t, 2_000, 16);
        int warmErrors = chain.Errors;
        long bytes = chain.Run(t, 20_000, 16);
        int completed = chain.Completed, errors = chain.Errors;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        await Assert.That(warmErrors).IsEqualTo(0);
        await Assert.That(completed).IsEqualTo(20_000);
        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(bytes).IsEqualTo(0L);
    }
}

/// <summary>The pointer work of the NVMe tests (an await cannot sit in an unsafe context).</summary>
internal static unsafe class NvmeTestIo
{
    public static int ReadIntoHeap(BdevSession s)
    {
        byte[] heap = new byte[4096];
        fixed (byte* p = heap)
        {
            return s.Run(BdevIoType.Read, (nint)p, 0, 8);
        }
    }

    public static (int Rc, (ushort Sct, ushort Sc) Status) Passthru(BdevSession s, BdevIoType type, NvmeCommand cmd,
        nint buf, ulong n)
    {
        var log = new IoLog();
        (ushort, ushort) status = default;
        int rc = Bdevs.Bound(s.Thread, () =>
        {
            NvmeCommand c = cmd;
            nint arg = IoTickets.Arg(&OnPassthru, (log, (Action<(ushort, ushort)>)(v => status = v)), 0);
            return IoTickets.FreeIfRefused(s.Channel.SubmitPassthru(s.Desc, type, (byte*)&c, (void*)buf, n,
                IoTickets.Callback, arg), arg);
        });
        if (rc != 0)
        {
            return (rc, default);
        }
        if (!ThreadHost.PollUntil(() => log.Count == 1, s.Thread))
        {
            throw new TimeoutException("passthrough did not complete");
        }
        return (log.Done[0].Status, status);
    }

    private static void OnPassthru(BdevIo* io, int status, object? ctx, nint arg)
    {
        var (log, set) = ((IoLog, Action<(ushort, ushort)>))ctx!;
        set((io->NvmeSct, io->NvmeSc));
        log.Done.Add(new IoDone(arg, status, io->Type, LightweightThread.Current));
    }
}
