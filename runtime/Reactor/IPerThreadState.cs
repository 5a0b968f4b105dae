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
