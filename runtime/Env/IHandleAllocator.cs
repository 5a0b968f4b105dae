namespace NativeBdev.Env;

/// <summary>Names core objects for the world outside the library: the C ABI's opaque handles
/// (runtime/Abi/HandleTable.cs). The core names each object it may hand out when it makes it
/// and gives the name back when the object dies, so that a host still holding it sees a stale
/// handle; it never looks inside a name. Env declares only this seam, so that neither Env nor
/// the layers above it name the ABI's table or its handle types.</summary>
internal interface IHandleAllocator
{
    /// <summary>A new name for <paramref name="target"/>, never 0.</summary>
    nint Allocate(object target);

    /// <summary>The name no longer resolves; releasing a stale one is harmless.</summary>
    void Release(nint handle);
}
