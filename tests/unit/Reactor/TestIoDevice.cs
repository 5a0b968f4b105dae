using NativeBdev.Reactor;

namespace NativeBdev.Tests.Reactor;

/// <summary>A managed io_device that counts channel creations and destructions and can be
/// told to refuse channels.</summary>
internal sealed class TestIoDevice : IoDevice
{
    public int Creates;
    public int Destroys;
    public int CreateResult;
    /// <summary>Whether the last channel created came with a zeroed context of ContextSize.</summary>
    public bool ZeroedContext;
    public readonly List<LightweightThread?> CreatedOn = new();

    public TestIoDevice(string name, int contextSize = 0) : base(NewKey(), name, contextSize)
    {
    }

    /// <summary>The device registry is process-wide: every test device gets its own key.</summary>
    public static nint NewKey() => (nint)Random.Shared.NextInt64(1L << 40, 1L << 50);

    public override unsafe int CreateChannel(IoChannel channel)
    {
        Creates++;
        ZeroedContext = channel.Context != null
            && !new ReadOnlySpan<byte>(channel.Context, ContextSize).ContainsAnyExcept((byte)0);
        CreatedOn.Add(LightweightThread.Current);
        channel.State = CreateResult == 0 ? new object() : null;
        return CreateResult;
    }

    public override void DestroyChannel(IoChannel channel) => Destroys++;

    /// <summary>IoChannel.Get with <paramref name="t"/> bound.</summary>
    public int Get(LightweightThread t, out IoChannel? channel)
    {
        IoChannel? ch = null;
        int rc = Support.ThreadHost.OnThread(t, () => IoChannel.Get(this, out ch));
        channel = ch;
        return rc;
    }

    public static int Put(IoChannel ch) => Support.ThreadHost.OnThread(ch.Thread, ch.Put);
}
