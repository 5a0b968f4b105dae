using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Aio;

/// <summary>aio:///path?blk_size=&amp;direct=1&amp;readonly=0&amp;name=&amp;uuid= — a file or block
/// device through Linux native AIO, one context per thread (SPDK's bdev_aio). AIO has no
/// discard or zeroing command, so this backend reports read, write, flush and reset only.</summary>
internal sealed class AioModule : IBdevModule
{
    public string Name => "aio";
    public ReadOnlySpan<string> Schemes => new[] { "aio" };
    public unsafe int IoContextSize => sizeof(AioAbi.Iocb); // the iocb lives in the I/O

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        int rc = BackingFile.Open(uri, out BackingFile? file);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = uri.CheckAllUsed("blk_size, direct, readonly, name, uuid")) != 0)
        {
            file!.Dispose();
            return rc;
        }
        var bdev = new AioBdev(file!);
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            file!.Dispose();
            return rc;
        }
        name = bdev.Name;
        return 0;
    }
}
