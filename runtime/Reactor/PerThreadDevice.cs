using System;

namespace NativeBdev.Reactor;

/// <summary>State a layer or module keeps once per thread and shares among everything of
/// it on that thread (a pool, a ring, a context): made with the first channel, released after
/// the last.</summary>
internal interface IPerThreadState
{
    /// <summary>0, or -errno (then <see cref="Release"/> is called and no channel is made).</summary>
    int Start();

    void Release();
}

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
