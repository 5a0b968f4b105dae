using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

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
