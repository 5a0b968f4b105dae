using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>The ABI's side of Env's handle seam (<see cref="IHandleAllocator"/>): core objects
/// get their handles from the <see cref="HandleTable"/>, typed by their class, so the core
/// names neither the table nor a handle type.</summary>
internal sealed class HandleAllocator : IHandleAllocator
{
    /// <summary>Installed when the library loads: the core makes objects (and asks for their
    /// handles) from the first call on, whichever front end or test makes the first one.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the ABI's handles must exist before any core object")]
    internal static void Install() => Handles.Install(new HandleAllocator());

    public nint Allocate(object target) => HandleTable.Allocate(TypeOf(target), target);

    public void Release(nint handle) => HandleTable.Release(handle);

    private static HandleType TypeOf(object target) => target switch
    {
        LightweightThread => HandleType.Thread,
        Poller => HandleType.Poller,
        IoChannel => HandleType.IoChannel,
        Mempool => HandleType.Mempool,
        Bdev.Bdev => HandleType.Bdev,
        BdevDesc => HandleType.BdevDesc,
        _ => throw new ArgumentException($"a {target.GetType().Name} is not handed out through the ABI"),
    };
}
