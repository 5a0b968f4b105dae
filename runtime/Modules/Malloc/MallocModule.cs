using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Malloc;

/// <summary>malloc:///name?size_mb=|num_blocks=|size=&amp;blk_size=&amp;uuid= — a RAM disk in
/// the DMA pool (SPDK's bdev_malloc). Copies run on the submitting thread inside Submit and
/// complete on the next poll.</summary>
internal sealed class MallocModule : IBdevModule
{
    public string Name => "malloc";
    public ReadOnlySpan<string> Schemes => new[] { "malloc" };

    public unsafe int Create(BdevUri uri, out string? name)
    {
        name = null;
        int rc = BdevGeometry.ParseSizedDevice(uri, out string n, out uint bs, out ulong blocks, out Guid uuid);
        if (rc != 0)
        {
            return rc;
        }
        if (BdevRegistry.Find(n) != null)
        {
            return LastError.Set(Errno.EEXIST, $"a bdev named '{n}' already exists");
        }
        DmaPool dma = NbEnvironment.Dma!;
        byte* mem = (byte*)dma.Alloc((long)(blocks * bs), 4096, zero: true);
        if (mem == null)
        {
            return -Errno.ENOMEM; // the pool said why
        }
        var bdev = new MallocBdev(n, bs, blocks, uuid, mem, dma);
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            dma.Free(mem);
            return rc;
        }
        name = n;
        return 0;
    }
}
