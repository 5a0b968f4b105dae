using System;

namespace NativeBdev.Reactor;

/// <summary>The io device of an <see cref="IPerThreadState"/>: its channels are the
/// per-thread states, reached directly (never by key, so no host pointer can collide).</summary>
internal sealed class PerThreadDevice<T>(string name, Func<LightweightThread, T> make) : IoDevice(0, name, 0)
    where T : class, IPerThreadState
{
    public override int CreateChannel(IoChannel channel)
    {
        T state = make(channel.Thread);
        int rc = state.Start();
        if (rc != 0)
        {
            state.Release();
            return rc;
        }
        channel.State = state;
        return 0;
    }

    public override void DestroyChannel(IoChannel channel)
    {
        (channel.State as T)?.Release();
        channel.State = null;
    }
}
