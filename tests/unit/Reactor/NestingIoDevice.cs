using NativeBdev.Env;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

/// <summary>Asks for its own channel from inside its create callback.</summary>
internal sealed class NestingIoDevice() : IoDevice(TestIoDevice.NewKey(), "nesting", 0)
{
    public int InnerResult = 1;
    public string InnerMessage = "";

    public override int CreateChannel(IoChannel channel)
    {
        InnerResult = IoChannel.Get(this, out _);
        InnerMessage = LastError.Message;
        return 0;
    }

    public override void DestroyChannel(IoChannel channel)
    {
    }

    public int Get(LightweightThread t, out IoChannel? channel)
    {
        IoChannel? ch = null;
        int rc = ThreadHost.OnThread(t, () => IoChannel.Get(this, out ch));
        channel = ch;
        return rc;
    }
}
