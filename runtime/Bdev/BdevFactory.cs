using System;
using System.Text.Json;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>A bdev module (SPDK's spdk_bdev_module): a factory from URIs of its schemes,
/// and the hooks the bdev layer calls. Optional members have defaults, as SPDK's function
/// table entries "may be null". Modules register themselves
/// (<see cref="BdevModules.Register"/>); the bdev layer never names one.</summary>
internal interface IBdevModule
{
    string Name { get; }
    ReadOnlySpan<string> Schemes { get; }

    /// <summary>Whether URIs of this module name a remote host (nvmf://host:port/...).</summary>
    bool TakesHost => false;

    /// <summary>Bytes of per-I/O state the module keeps in each <see cref="BdevIo"/>'s
    /// driver context (SPDK's get_ctx_size). Every pool is sized for the largest.</summary>
    int IoContextSize => 0;

    /// <summary>Runs once when the environment starts (SPDK's module_init). 0 or -errno.</summary>
    int Init() => 0;

    /// <summary>Runs once when the environment ends, after every bdev is gone.</summary>
    void Fini()
    {
    }

    /// <summary>Sees every bdev registered after this module, of any module (SPDK's
    /// examine_disk): a module that finds its metadata there (an lvol store) claims the
    /// bdev and creates its own on it. Runs on the registering thread; must not block.</summary>
    void Examine(Bdev bdev)
    {
    }

    /// <summary>Writes the module's own settings as SPDK config entries
    /// (<c>{"method": ..., "params": {...}}</c>), before any bdev's (SPDK's config_json).</summary>
    void WriteConfig(Utf8JsonWriter writer)
    {
    }

    /// <summary>Creates and registers the bdev. Returns 0 and its name, or -errno.</summary>
    int Create(BdevUri uri, out string? name);
}

/// <summary>nb_bdev_create: dispatch on the URI's scheme (Mayastor's dev::parse).</summary>
internal static class BdevFactory
{
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
        IBdevModule? m = BdevModules.ForScheme(uri!.Scheme);
        if (m == null)
        {
            return LastError.Set(Errno.ENOTSUP,
                $"unknown URI scheme '{uri.Scheme}' (known: {BdevModules.KnownSchemes()})");
        }
        if (!m.TakesHost && uri.Host.Length > 0)
        {
            // malloc://host/x would otherwise silently mean malloc:///x.
            return LastError.Set(Errno.EINVAL,
                $"{uri.Scheme}:// devices are local and take no host ('{uri.Host}'): write {uri.Scheme}:///NAME");
        }
        return m.Create(uri, out name);
    }
}
