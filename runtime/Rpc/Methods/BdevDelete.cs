using System;
using NativeBdev.Bdev;
using NativeBdev.Interop;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Rpc.Methods;

/// <summary>What every bdev_X_delete does: -ENODEV unless the bdev is one of the method's
/// (SPDK answers that for a bdev of another module), else remove it and reply true once the
/// removal has finished.</summary>
internal static class BdevDelete
{
    public static void Reply(RpcCall call, string name, Func<BlockDevice, bool> ours)
    {
        if (BdevRegistry.Find(name) is not { } b || !ours(b))
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        int rc = BdevRegistry.Destroy(name, status =>
        {
            if (status == 0)
            {
                call.Result(true);
            }
            else
            {
                call.Errno(status < 0 ? status : -status);
            }
        });
        if (rc != 0)
        {
            call.Errno(rc);
        }
    }
}
