using System;
using NativeBdev.Bdev;

namespace NativeBdev.Modules.Uring;

/// <summary>uring:///path?blk_size=&amp;direct=1&amp;sqpoll=0&amp;readonly=0&amp;name=&amp;uuid= — a
/// file or block device through io_uring, one ring per thread (SPDK's bdev_uring,
/// Mayastor's uring://). O_DIRECT by default.</summary>
internal sealed class UringModule : IBdevModule
{
    public string Name => "uring";
    public ReadOnlySpan<string> Schemes => new[] { "uring" };

    public unsafe int Create(BdevUri uri, out string? name)
    {
        name = null;
        bool sqpoll = false;
        int rc = uri.GetBool("sqpoll", ref sqpoll);
        if (rc != 0 || (rc = BackingFile.Open(uri, out BackingFile? file)) != 0)
        {
            return rc;
        }
        if ((rc = uri.CheckAllUsed("blk_size, direct, sqpoll, readonly, name, uuid")) != 0)
        {
            file!.Dispose();
            return rc;
        }
        // Fail at create, not at the first I/O, where io_uring is disabled or refused.
        using (var probe = new UringRing(sqpoll))
        {
            if ((rc = probe.Init(4, 8)) != 0)
            {
                file!.Dispose();
                return rc;
            }
        }
        var bdev = new UringBdev(file!, sqpoll);
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            file!.Dispose();
            return rc;
        }
        name = bdev.Name;
        return 0;
    }
}
