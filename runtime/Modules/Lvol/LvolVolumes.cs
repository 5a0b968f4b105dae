using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>Placeholder until the writer lands.</summary>
internal static class LvolVolumes
{
    public static int Create(LvolStore store, string name, ulong sizeBytes, bool thin, out LvolBdev? volume)
    {
        volume = null;
        return LastError.Set(Errno.ENOTSUP, "creating volumes is not supported yet");
    }
}
