namespace NativeBdev.Env;

/// <summary>Where core objects get their handles: the <see cref="IHandleAllocator"/> the ABI
/// installs when the library loads, before any object exists. Allocation and release are
/// control-path calls (create, open, get a channel, close); nothing here is on the I/O path,
/// which resolves handles in the ABI's own table.</summary>
internal static class Handles
{
    private static IHandleAllocator? s_allocator;

    public static void Install(IHandleAllocator allocator) => s_allocator = allocator;

    /// <summary>The handle of a new object; 0 when no front end hands objects out.</summary>
    public static nint Allocate(object target) => s_allocator?.Allocate(target) ?? 0;

    public static void Release(nint handle)
    {
        if (handle != 0)
        {
            s_allocator?.Release(handle);
        }
    }
}
