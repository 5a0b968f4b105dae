using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

internal sealed unsafe partial class LvolStore
{
    public static int CreateNew(string baseName, string name, ulong clusterSize, out LvolStore? store)
    {
        store = null;
        return LastError.Set(Errno.ENOTSUP, "creating stores is not supported yet");
    }
}
