using NativeBdev.Abi;
using NativeBdev.Reactor;

namespace NativeBdev.Tests.Abi;

public class HandleTableTests
{
    /// <summary>A handle type is bound to one class (checked in debug builds): pollers are
    /// the cheapest real objects to hand out.</summary>
    private static Poller NewTarget() => new(null!, "handle-test", 0, 0, 0, null, managed: true);

    [Test]
    public async Task Allocated_handle_resolves_to_its_object()
    {
        Poller target = NewTarget();
        nint h = HandleTable.Allocate(HandleType.Poller, target);
        Poller? got = HandleTable.Get<Poller>(h, HandleType.Poller);
        HandleTable.Release(h);

        await Assert.That(h).IsNotEqualTo(0);
        await Assert.That(got).IsSameReferenceAs(target);
    }

    [Test]
    public async Task Released_handle_is_stale_even_when_its_slot_is_reused()
    {
        nint old = HandleTable.Allocate(HandleType.Poller, NewTarget());
        HandleTable.Release(old);
        Poller? afterRelease = HandleTable.Get<Poller>(old, HandleType.Poller);
        nint[] handles = Enumerable.Range(0, 64)
            .Select(_ => HandleTable.Allocate(HandleType.Poller, NewTarget()))
            .ToArray();
        Poller? afterReuse = HandleTable.Get<Poller>(old, HandleType.Poller);
        bool allLive = handles.All(h => HandleTable.Get<Poller>(h, HandleType.Poller) != null);
        foreach (nint h in handles)
        {
            HandleTable.Release(h);
        }
        HandleTable.Release(old); // releasing twice is harmless

        await Assert.That(afterRelease).IsNull();
        await Assert.That(afterReuse).IsNull();
        await Assert.That(allLive).IsTrue();
        await Assert.That(handles.Distinct().Count()).IsEqualTo(64);
        await Assert.That(handles.All(h => HandleTable.Get<Poller>(h, HandleType.Poller) == null)).IsTrue();
    }

    [Test]
    public async Task Handle_of_another_type_does_not_resolve()
    {
        nint h = HandleTable.Allocate(HandleType.Poller, NewTarget());
        IoChannel? wrongType = HandleTable.Get<IoChannel>(h, HandleType.IoChannel);
        string why = HandleTable.Describe(h, HandleType.IoChannel);
        HandleTable.Release(h);
        string staleWhy = HandleTable.Describe(h, HandleType.Poller);

        await Assert.That(wrongType).IsNull();
        await Assert.That(why).Contains("is a poller handle");
        await Assert.That(staleWhy).Contains("stale");
    }

    [Test]
    [Arguments(0L)]
    [Arguments(1L)]
    [Arguments(-1L)]
    [Arguments(0x0200_0000L)]
    [Arguments(0x7FFF_FFFF_0200_0000L)]
    [Arguments(0x1234_5678_9ABC_DEF0L)]
    public async Task Garbage_values_do_not_resolve(long value)
    {
        await Assert.That(HandleTable.Get<Poller>((nint)value, HandleType.Poller)).IsNull();
        await Assert.That(HandleTable.Get<LightweightThread>((nint)value, HandleType.Thread)).IsNull();
    }

    [Test]
    public async Task Random_values_do_not_resolve()
    {
        nint live = HandleTable.Allocate(HandleType.Poller, NewTarget());
        var rng = new Random(12345);
        int resolved = 0;
        for (int i = 0; i < 100_000; i++)
        {
            nint v = (nint)rng.NextInt64(long.MinValue, long.MaxValue);
            if (v != live && HandleTable.Get<object>(v, (HandleType)((i % 7) + 1)) != null)
            {
                resolved++;
            }
        }
        HandleTable.Release(live);

        await Assert.That(resolved).IsEqualTo(0);
    }
}
