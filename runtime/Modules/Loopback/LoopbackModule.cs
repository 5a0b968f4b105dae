using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Loopback;

/// <summary>bdev:///base?name=&amp;uuid= and loopback:///base?name=&amp;uuid= — a passthrough
/// bdev over an existing one (SPDK's passthru, Mayastor's loopback devices). It opens its
/// base through the public bdev API like any host: one descriptor, one base channel per
/// thread. When the base goes away, so does the alias. Default name: "&lt;base&gt;_loop".</summary>
internal sealed class LoopbackModule : IBdevModule
{
    public string Name => "loopback";
    public ReadOnlySpan<string> Schemes => new[] { "bdev", "loopback" };

    public int Create(BdevUri uri, out string? name)
    {
        int rc = PassthroughBdev.CreateOver(uri, "loopback", b => b + "_loop", "Loopback of ", "name, uuid",
            out PassthroughBdev? bdev);
        name = bdev?.Name;
        return rc;
    }
}
