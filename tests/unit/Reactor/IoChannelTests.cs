using NativeBdev.Abi;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

[NotInParallel(Keys.Threads)]
public class IoChannelTests
{
    [Test]
    public async Task Second_get_on_a_thread_returns_the_same_channel()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("get-twice");
        var dev = new TestIoDevice("get-twice");
        int reg = IoDevice.Register(dev);
        int rc1 = dev.Get(t, out IoChannel? a);
        int rc2 = dev.Get(t, out IoChannel? b);
        TestIoDevice.Put(a!);
        TestIoDevice.Put(b!);
        ThreadHost.Poll(t);

        await Assert.That(reg).IsEqualTo(0);
        await Assert.That(IoDevice.Register(dev)).IsEqualTo(-Errno.EEXIST);
        await Assert.That(rc1 + rc2).IsEqualTo(0);
        await Assert.That(b).IsSameReferenceAs(a);
        await Assert.That(dev.Creates).IsEqualTo(1);
        await Assert.That(dev.CreatedOn[0]).IsSameReferenceAs(t);
        await Assert.That(a!.Thread).IsSameReferenceAs(t);
        UnregisterQuietly(t, dev);
    }

    [Test]
    public async Task Last_put_destroys_the_channel_on_the_next_poll_once()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("put-destroy");
        var dev = new TestIoDevice("put-destroy", contextSize: 32);
        IoDevice.Register(dev);
        dev.Get(t, out IoChannel? ch);
        dev.Get(t, out _);
        int refs = ch!.RefCount;
        bool hasContext = dev.ZeroedContext;
        nint handle = ch.Handle;
        bool handleLive = HandleTable.Get<IoChannel>(handle, HandleType.IoChannel) == ch;
        TestIoDevice.Put(ch);
        TestIoDevice.Put(ch);
        int destroysBeforePoll = dev.Destroys;
        ThreadHost.Poll(t);
        ThreadHost.Poll(t);

        await Assert.That(refs).IsEqualTo(2);
        await Assert.That(hasContext).IsTrue();
        await Assert.That(handleLive).IsTrue();
        await Assert.That(destroysBeforePoll).IsEqualTo(0);
        await Assert.That(dev.Destroys).IsEqualTo(1);
        await Assert.That(ch.Destroyed).IsTrue();
        await Assert.That(t.Channels.Count).IsEqualTo(0);
        await Assert.That(dev.ChannelSnapshot().Length).IsEqualTo(0);
        await Assert.That(HandleTable.Get<IoChannel>(handle, HandleType.IoChannel)).IsNull();
        await Assert.That(TestIoDevice.Put(ch)).IsEqualTo(-Errno.EINVAL);
        UnregisterQuietly(t, dev);
    }

    [Test]
    public async Task Get_after_put_before_the_poll_reuses_the_channel()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("reuse");
        var dev = new TestIoDevice("reuse");
        IoDevice.Register(dev);
        dev.Get(t, out IoChannel? first);
        TestIoDevice.Put(first!);
        dev.Get(t, out IoChannel? second);
        ThreadHost.Poll(t);
        ThreadHost.Poll(t);

        await Assert.That(second).IsSameReferenceAs(first);
        await Assert.That(dev.Creates).IsEqualTo(1);
        await Assert.That(dev.Destroys).IsEqualTo(0);
        await Assert.That(second!.Destroyed).IsFalse();
        await Assert.That(second.RefCount).IsEqualTo(1);

        TestIoDevice.Put(second);
        ThreadHost.Poll(t);
        await Assert.That(dev.Destroys).IsEqualTo(1);
        UnregisterQuietly(t, dev);
    }

    [Test]
    public async Task Two_threads_get_two_channels_and_puts_check_the_thread()
    {
        using var host = new ThreadHost();
        LightweightThread a = host.Create("two-a"), b = host.Create("two-b");
        var dev = new TestIoDevice("two");
        IoDevice.Register(dev);
        dev.Get(a, out IoChannel? chA);
        dev.Get(b, out IoChannel? chB);
        int wrongThreadPut = ThreadHost.OnThread(b, chA!.Put);
        int noThreadPut = chA.Put();

        await Assert.That(chB).IsNotSameReferenceAs(chA);
        await Assert.That(chA.Thread).IsSameReferenceAs(a);
        await Assert.That(chB!.Thread).IsSameReferenceAs(b);
        await Assert.That(dev.Creates).IsEqualTo(2);
        await Assert.That(dev.ChannelSnapshot().Length).IsEqualTo(2);
        await Assert.That(wrongThreadPut).IsEqualTo(-Errno.EINVAL);
        await Assert.That(noThreadPut).IsEqualTo(-Errno.EINVAL);

        TestIoDevice.Put(chA);
        TestIoDevice.Put(chB);
        ThreadHost.PollUntil(() => dev.Destroys == 2, a, b);
        await Assert.That(dev.Destroys).IsEqualTo(2);
        UnregisterQuietly(a, dev);
    }

    [Test]
    public async Task Create_failure_returns_the_devices_errno()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("create-fails");
        var dev = new TestIoDevice("refuses", contextSize: 16) { CreateResult = -Errno.ENOMEM };
        IoDevice.Register(dev);
        int rc = dev.Get(t, out IoChannel? ch);
        string message = LastError.Message;

        await Assert.That(rc).IsEqualTo(-Errno.ENOMEM);
        await Assert.That(ch).IsNull();
        await Assert.That(message).Contains("refuses");
        await Assert.That(t.Channels.Count).IsEqualTo(0);
        await Assert.That(dev.ChannelSnapshot().Length).IsEqualTo(0);

        dev.CreateResult = 0; // a later get may succeed
        await Assert.That(dev.Get(t, out ch)).IsEqualTo(0);
        TestIoDevice.Put(ch!);
        UnregisterQuietly(t, dev);
    }

    [Test]
    public async Task Get_without_a_current_thread_is_refused()
    {
        var dev = new TestIoDevice("no-thread");
        int rc = IoChannel.Get(dev, out IoChannel? ch);

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(ch).IsNull();
        await Assert.That(dev.Creates).IsEqualTo(0);
    }

    /// <summary>Leaves the global registry as it was (channels must already be put).</summary>
    internal static void UnregisterQuietly(LightweightThread t, IoDevice dev)
    {
        ThreadHost.OnThread(t, () => dev.Unregister(null));
        ThreadHost.Poll(t);
    }
}
