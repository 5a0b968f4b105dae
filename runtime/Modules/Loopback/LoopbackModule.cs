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
        if (bdev != null)
        {
            // SPDK's passthru bdev is the same thing: configs re-create it with its call.
            bdev.ConfigWriter = static (writer, b) => BdevConfig.Entry(writer, "bdev_passthru_create", w =>
            {
                w.WriteString("base_bdev_name", b.Base.Name);
                w.WriteString("name", b.Name);
                w.WriteString("uuid", b.Uuid.ToString());
            });
        }
        name = bdev?.Name;
        return rc;
    }
}
