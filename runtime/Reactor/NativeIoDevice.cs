namespace NativeBdev.Reactor;

/// <summary>An io_device registered from C: callbacks
/// <c>int create(void *io_device, void *ctx)</c> and <c>void destroy(void *io_device, void *ctx)</c>.</summary>
internal sealed unsafe class NativeIoDevice : IoDevice
{
    private readonly delegate* unmanaged[Cdecl]<void*, void*, int> _create;
    private readonly delegate* unmanaged[Cdecl]<void*, void*, void> _destroy;

    public NativeIoDevice(nint key, string name, int contextSize,
        delegate* unmanaged[Cdecl]<void*, void*, int> create, delegate* unmanaged[Cdecl]<void*, void*, void> destroy)
        : base(key, name, contextSize)
    {
        _create = create;
        _destroy = destroy;
    }

    public override int CreateChannel(IoChannel channel) =>
        _create == null ? 0 : _create((void*)Key, channel.Context);

    public override void DestroyChannel(IoChannel channel)
    {
        if (_destroy != null)
        {
            _destroy((void*)Key, channel.Context);
        }
    }
}
