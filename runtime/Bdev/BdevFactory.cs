using System;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>A backend's factory: turns a URI of its scheme into a registered bdev.</summary>
internal interface IBdevModule
{
    string Name { get; }
    ReadOnlySpan<string> Schemes { get; }

    /// <summary>Whether URIs of this module name a remote host (nvmf://host:port/...).</summary>
    bool TakesHost => false;

    /// <summary>Creates and registers the bdev. Returns 0 and its name, or -errno.</summary>
    int Create(BdevUri uri, out string? name);
}

/// <summary>nb_bdev_create: dispatch on the URI's scheme (Mayastor's dev::parse). The
/// module table is a plain list: modules never know each other.</summary>
internal static class BdevFactory
{
    private static IBdevModule[] s_modules =
    [
        new Modules.Null.NullModule(),
        new Modules.Malloc.MallocModule(),
        new Modules.Loopback.LoopbackModule(),
        new Modules.Uring.UringModule(),
        new Modules.Aio.AioModule(),
        new Modules.Error.ErrorModule(),
        new Modules.Delay.DelayModule(),
        new Modules.Nvme.NvmeModule(),
    ];

    internal static void AddModule(IBdevModule module) => s_modules = [.. s_modules, module];

    public static string KnownSchemes()
    {
        var names = new System.Collections.Generic.List<string>();
        foreach (IBdevModule m in s_modules)
        {
            foreach (string s in m.Schemes)
            {
                names.Add(s);
            }
        }
        return string.Join(", ", names);
    }

    public static int Create(string? text, out string? name)
    {
        name = null;
        if (!NbEnvironment.IsInitialized)
        {
            return NbEnvironment.NotInitialized();
        }
        int rc = BdevUri.Parse(text, out BdevUri? uri);
        if (rc != 0)
        {
            return rc;
        }
        foreach (IBdevModule m in s_modules)
        {
            foreach (string s in m.Schemes)
            {
                if (s == uri!.Scheme)
                {
                    if (!m.TakesHost && uri.Host.Length > 0)
                    {
                        // malloc://host/x would otherwise silently mean malloc:///x.
                        return LastError.Set(Errno.EINVAL,
                            $"{uri.Scheme}:// devices are local and take no host ('{uri.Host}'): write {uri.Scheme}:///NAME");
                    }
                    return m.Create(uri, out name);
                }
            }
        }
        return LastError.Set(Errno.ENOTSUP, $"unknown URI scheme '{uri!.Scheme}' (known: {KnownSchemes()})");
    }
}
