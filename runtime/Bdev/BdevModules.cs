using System;
using System.Collections.Generic;
using System.Text.Json;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>The registered bdev modules (SPDK's SPDK_BDEV_MODULE_REGISTER list): filled by
/// the composition root before the first bdev exists, read by the factory, the examine
/// pass, the config dump and the environment's start and end. The bdev layer names no
/// module; modules never know each other.</summary>
internal static class BdevModules
{
    private static readonly object s_lock = new();
    private static IBdevModule[] s_modules = [];
    private static int s_ioStride;

    public static ReadOnlySpan<IBdevModule> All => s_modules;

    /// <summary>Adds a module. Refused for a scheme already taken, and for a module whose
    /// per-I/O context would not fit the I/O pools already made.</summary>
    public static int Register(IBdevModule module)
    {
        lock (s_lock)
        {
            foreach (string scheme in module.Schemes)
            {
                if (ForScheme(scheme) is { } other)
                {
                    return LastError.Set(Errno.EEXIST, $"scheme '{scheme}' is already the {other.Name} module's");
                }
            }
            if (module.IoContextSize < 0 || module.IoContextSize > 4096)
            {
                return LastError.Set(Errno.EINVAL,
                    $"module {module.Name}: per-I/O context of {module.IoContextSize} bytes is not 0 .. 4096");
            }
            if (s_ioStride != 0 && StrideFor(module.IoContextSize) > s_ioStride)
            {
                return LastError.Set(Errno.EBUSY, $"module {module.Name} needs {module.IoContextSize} bytes per " +
                    "I/O, more than the I/O pools made so far hold: register it before the first bdev channel");
            }
            s_modules = [.. s_modules, module];
            return 0;
        }
    }

    /// <summary>The first module that offers <typeparamref name="T"/> (an optional capability
    /// such as <see cref="INvmePciProbe"/>), or null: front ends reach a module's features
    /// through this, never through the module's type.</summary>
    public static T? Find<T>() where T : class
    {
        foreach (IBdevModule m in s_modules)
        {
            if (m is T feature)
            {
                return feature;
            }
        }
        return null;
    }

    public static IBdevModule? ForScheme(string scheme)
    {
        foreach (IBdevModule m in s_modules)
        {
            foreach (string s in m.Schemes)
            {
                if (s == scheme)
                {
                    return m;
                }
            }
        }
        return null;
    }

    public static string KnownSchemes()
    {
        var names = new List<string>();
        foreach (IBdevModule m in s_modules)
        {
            foreach (string s in m.Schemes)
            {
                names.Add(s);
            }
        }
        return string.Join(", ", names);
    }

    /// <summary>Bytes per pooled I/O: the I/O and the largest module context, in whole
    /// cache lines. Fixed by the first pool made.</summary>
    public static unsafe int IoStride
    {
        get
        {
            if (s_ioStride == 0)
            {
                lock (s_lock)
                {
                    int largest = 0;
                    foreach (IBdevModule m in s_modules)
                    {
                        largest = Math.Max(largest, m.IoContextSize);
                    }
                    if (s_ioStride == 0)
                    {
                        s_ioStride = StrideFor(largest);
                    }
                }
            }
            return s_ioStride;
        }
    }

    private static unsafe int StrideFor(int contextSize) => (sizeof(BdevIo) + contextSize + 63) & ~63;

    /// <summary>Runs every module's Init; on a failure the ones already started are finished.</summary>
    public static int Init()
    {
        IBdevModule[] modules = s_modules;
        for (int i = 0; i < modules.Length; i++)
        {
            int rc = modules[i].Init();
            if (rc != 0)
            {
                for (int j = i - 1; j >= 0; j--)
                {
                    modules[j].Fini();
                }
                return rc;
            }
        }
        return 0;
    }

    public static void Fini()
    {
        IBdevModule[] modules = s_modules;
        for (int i = modules.Length - 1; i >= 0; i--)
        {
            modules[i].Fini();
        }
    }

    /// <summary>Offers a newly registered bdev to every module (SPDK's examine).</summary>
    public static void Examine(Bdev bdev)
    {
        foreach (IBdevModule m in s_modules)
        {
            try
            {
                m.Examine(bdev);
            }
            catch (Exception e)
            {
                Log.Error($"module {m.Name}: examining bdev '{bdev.Name}' failed: {e.Message}");
            }
        }
    }

    /// <summary>The bdev subsystem's part of SPDK's save_config: each module's settings,
    /// then one create call per bdev, bases before the bdevs built on them.</summary>
    public static void WriteConfig(Utf8JsonWriter writer)
    {
        writer.WriteStartArray();
        foreach (IBdevModule m in s_modules)
        {
            m.WriteConfig(writer);
        }
        foreach (Bdev b in BdevRegistry.Snapshot())
        {
            if (b.ConfigOwner is not { Removing: false })
            {
                b.WriteConfig(writer);
            }
        }
        writer.WriteEndArray();
    }
}
