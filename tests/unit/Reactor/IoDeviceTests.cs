using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

[NotInParallel(Keys.Threads)]
public class IoDeviceTests
{
    private sealed class Walk
    {
        public readonly List<(IoChannel Channel, LightweightThread? Current)> Visits = new();
        public int DoneStatus = int.MinValue;
        public LightweightThread? DoneOn;
        public int DoneCalls;
    }

    [Test]
    public async Task ForEachChannel_visits_each_channel_on_its_thread_then_completes_on_the_origin()
    {
        using var host = new ThreadHost();
        LightweightThread origin = host.Create("fe-origin"), a = host.Create("fe-a"), b = host.Create("fe-b");
        var dev = new TestIoDevice("for-each");
        IoDevice.Register(dev);
        dev.Get(a, out IoChannel? chA);
        dev.Get(b, out IoChannel? chB);
        var walk = new Walk();
        int rc = StartWalk(origin, dev, walk, stopAt: null);
        bool finished = ThreadHost.PollUntil(() => walk.DoneCalls > 0, origin, a, b);
        ThreadHost.Poll(origin);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(finished).IsTrue();
        await Assert.That(walk.Visits.Count).IsEqualTo(2);
        await Assert.That(walk.Visits.All(v => v.Current == v.Channel.Thread)).IsTrue();
        await Assert.That(walk.Visits.Count(v => v.Channel == chA)).IsEqualTo(1);
        await Assert.That(walk.Visits.Count(v => v.Channel == chB)).IsEqualTo(1);
        await Assert.That(walk.DoneStatus).IsEqualTo(0);
        await Assert.That(walk.DoneOn).IsSameReferenceAs(origin);
        await Assert.That(walk.DoneCalls).IsEqualTo(1);
        PutAll(dev, origin, a, b);
    }

    [Test]
    public async Task ForEachChannel_stops_at_the_first_non_zero_status()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("fe-stop-a"), b = host.Create("fe-stop-b");
        var dev = new TestIoDevice("for-each-stop");
        IoDevice.Register(dev);
        dev.Get(a, out _);
        dev.Get(b, out _);
        var walk = new Walk();
        StartWalk(a, dev, walk, stopAt: 0);
        bool finished = ThreadHost.PollUntil(() => walk.DoneCalls > 0, a, b);

        await Assert.That(finished).IsTrue();
        await Assert.That(walk.Visits.Count).IsEqualTo(1);
        await Assert.That(walk.DoneStatus).IsEqualTo(7);
        await Assert.That(walk.DoneOn).IsSameReferenceAs(a);
        PutAll(dev, a, b);
    }

    [Test]
    public async Task Unregister_completes_only_after_the_last_channel_is_destroyed()
    {
        using var host = new ThreadHost();
        LightweightThread owner = host.Create("unreg-owner"), user = host.Create("unreg-user");
        var dev = new TestIoDevice("unregister");
        IoDevice.Register(dev);
        dev.Get(user, out IoChannel? ch);
        int calls = 0;
        LightweightThread? calledOn = null;
        int rc = ThreadHost.OnThread(owner, () => dev.Unregister(() =>
        {
            calls++;
            calledOn = LightweightThread.Current;
        }));
        int again = ThreadHost.OnThread(owner, () => dev.Unregister(null));
        for (int i = 0; i < 5; i++)
        {
            ThreadHost.Poll(owner);
            ThreadHost.Poll(user);
        }
        int callsWhileChannelLives = calls;
        int newChannelOnOwner = dev.Get(owner, out IoChannel? refused);
        TestIoDevice.Put(ch!);
        bool completed = ThreadHost.PollUntil(() => calls > 0, user, owner);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(again).IsEqualTo(-Errno.EALREADY);
        await Assert.That(IoDevice.Find(dev.Key)).IsNull();
        await Assert.That(callsWhileChannelLives).IsEqualTo(0);
        await Assert.That(newChannelOnOwner).IsEqualTo(-Errno.ENODEV);
        await Assert.That(refused).IsNull();
        await Assert.That(completed).IsTrue();
        await Assert.That(dev.Destroys).IsEqualTo(1);
        await Assert.That(calledOn).IsSameReferenceAs(owner);
    }

    [Test]
    public async Task Unregister_without_channels_completes_on_the_next_poll()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("unreg-empty");
        var dev = new TestIoDevice("unregister-empty");
        IoDevice.Register(dev);
        int calls = 0;
        ThreadHost.OnThread(t, () => dev.Unregister(() => calls++));
        int beforePoll = calls;
        ThreadHost.Poll(t);

        await Assert.That(beforePoll).IsEqualTo(0);
        await Assert.That(calls).IsEqualTo(1);
    }

    /// <summary>Starts a walk from <paramref name="origin"/>; the visit at index
    /// <paramref name="stopAt"/> (0-based) returns 7, the others 0.</summary>
    private static int StartWalk(LightweightThread origin, IoDevice dev, Walk walk, int? stopAt) =>
        ThreadHost.OnThread(origin, () => dev.ForEachChannel(ch =>
        {
            walk.Visits.Add((ch, LightweightThread.Current));
            return walk.Visits.Count - 1 == stopAt ? 7 : 0;
        }, status =>
        {
            walk.DoneStatus = status;
            walk.DoneOn = LightweightThread.Current;
            walk.DoneCalls++;
        }));

    /// <summary>Puts every channel of <paramref name="dev"/>, polls until they are destroyed
    /// and unregisters the device.</summary>
    private static void PutAll(TestIoDevice dev, params LightweightThread[] threads)
    {
        foreach (IoChannel ch in dev.ChannelSnapshot())
        {
            TestIoDevice.Put(ch);
        }
        ThreadHost.PollUntil(() => dev.ChannelSnapshot().Length == 0, threads);
        IoChannelTests.UnregisterQuietly(threads[0], dev);
    }
}
