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
        name = null;
        string baseName = uri.Name;
        if (baseName.Length == 0)
        {
            return LastError.Set(Errno.EINVAL, $"{uri.Scheme}:/// needs the name of an existing bdev as its path");
        }
        string n = uri.Get("name") ?? baseName + "_loop";
        int rc = BdevRegistry.CheckName(n);
        Guid uuid = Guid.NewGuid();
        if (rc != 0 || (rc = uri.GetUuid(ref uuid)) != 0 || (rc = uri.CheckAllUsed("name, uuid")) != 0)
        {
            return rc;
        }
        Bdev.Bdev? baseBdev = BdevRegistry.Find(baseName);
        if (baseBdev == null)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{baseName}' to alias");
        }
        var bdev = new PassthroughBdev(n, "loopback", baseBdev, uuid, "Loopback of " + baseBdev.Name);
        if ((rc = bdev.OpenBase()) != 0)
        {
            return rc;
        }
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            bdev.CloseBase();
            return rc;
        }
        name = n;
        return 0;
    }
}
