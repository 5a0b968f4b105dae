using System;
using System.Text.Json;

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

    /// <summary>Whether creating a bdev waits on a device or the network (a controller's
    /// enable, a TCP connect): seconds, not microseconds. <see cref="BdevCreation"/> then runs
    /// it on an OS thread of its own instead of the caller's lightweight thread.</summary>
    bool CreationWaits => false;

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
