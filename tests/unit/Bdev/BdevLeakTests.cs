using NativeBdev.Abi;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>Hot remove leaks nothing: bdevs destroyed while open, with I/O in flight,
/// leave no handle, no DMA memory, no io device behind once their holders close.</summary>
[NotInParallel(Keys.Threads)]
public class BdevLeakTests
{
    [Test]
    public async Task Destroy_while_open_with_io_in_flight_leaks_nothing()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("leaks");
        using var buf = new DmaBuffer(4096);
        // Warm up once so lazily made things (caches, first channels) are not counted.
        Cycle(t, buf);
        // Per type: tests outside this key (HandleTableTests, MempoolTests) hold poller and
        // mempool handles for a moment while this runs.
        int handles = BdevHandles();
        long dma = NbEnvironment.Dma!.UsedSize;
        int devices = IoDevice.Count;
        int bdevs = BdevRegistry.Count;
        for (int i = 0; i < 50; i++)
        {
            Cycle(t, buf);
        }
        await Assert.That(BdevHandles()).IsEqualTo(handles);
        await Assert.That(NbEnvironment.Dma!.UsedSize).IsEqualTo(dma);
        await Assert.That(IoDevice.Count).IsEqualTo(devices);
        await Assert.That(BdevRegistry.Count).IsEqualTo(bdevs);
    }

    private static int BdevHandles() =>
        HandleTable.LiveCountOf(HandleType.Bdev) + HandleTable.LiveCountOf(HandleType.BdevDesc)
        + HandleTable.LiveCountOf(HandleType.IoChannel) + HandleTable.LiveCountOf(HandleType.BdevIo);

    /// <summary>Create, open twice, put I/O in flight, destroy (REMOVE), let the I/O
    /// complete, close and put: the destroy must then finish.</summary>
    private static void Cycle(LightweightThread t, DmaBuffer buf)
    {
        string name = Bdevs.Malloc("leak");
        string alias = Bdevs.Bound(t, () => Bdevs.Create($"loopback:///{name}?name={name}-alias"));
        var a = BdevSession.Open(t, name);
        var b = BdevSession.Open(t, alias, write: false);
        var log = new IoLog();
        for (int i = 0; i < 8; i++)
        {
            if (a.Submit(BdevIoType.Write, buf.Pointer, (ulong)i * 8, 8, log, i) != 0)
            {
                throw new InvalidOperationException("submit failed");
            }
        }
        bool destroyed = false;
        if (BdevRegistry.Destroy(name, _ => destroyed = true) != 0)
        {
            throw new InvalidOperationException("destroy refused");
        }
        ThreadHost.PollUntil(() => log.Done.Count == 8 && a.Events.Count > 0 && b.Events.Count > 0, t);
        a.Close();
        b.Close();
        if (!ThreadHost.PollUntil(() => destroyed && BdevRegistry.Find(alias) == null, t))
        {
            throw new InvalidOperationException("destroy never finished");
        }
    }
}
