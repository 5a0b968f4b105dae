using System;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>The checker on a bdev: opened read-only and unclaimed, the metadata part (super block,
/// masks, metadata region) read once in big I/Os, then <see cref="LvolStoreChecker"/> on it. Nothing
/// is written. A store that is loaded is refused: while it runs its masks on disk are stale by design
/// and its metadata thread may be writing.</summary>
internal static unsafe class LvolCheckBdev
{
    public static int Check(string bdevName, out LvolCheckReport? report)
    {
        report = null;
        if (LightweightThread.Current == null)
        {
            return LastError.Set(Errno.EINVAL, "checking an lvol store needs a current thread");
        }
        if (LvolStore.ForBase(bdevName) is { } loaded)
        {
            return LastError.Set(Errno.EBUSY,
                $"lvol store '{loaded.Name}' on '{bdevName}' is loaded: unload it (nb_lvs_unload) to check it");
        }
        int rc = BdevRegistry.Open(bdevName, write: false, null, null, static (_, _) => { }, out BdevDesc? desc);
        if (rc != 0)
        {
            return rc;
        }
        try
        {
            if (desc!.Bdev.BlockSize > BlobFormat.PageSize || BlobFormat.PageSize % desc.Bdev.BlockSize != 0)
            {
                return LastError.Set(Errno.EINVAL,
                    $"bdev '{bdevName}' has {desc.Bdev.BlockSize}-byte blocks; " +
                    "an lvol store needs blocks dividing 4096");
            }
            if ((rc = ReadMetadata(desc, out byte[]? head)) != 0)
            {
                return rc;
            }
            report = LvolStoreChecker.Check(new LvolPrefixDevice(head!, (long)desc.Bdev.SizeBytes));
            return 0;
        }
        finally
        {
            BdevRegistry.Close(desc!);
        }
    }

    /// <summary>Page 0, and when it reads as a super block, every page up to the end of the last region
    /// it names; the checker's own reads past that answer "cannot be read".</summary>
    private static int ReadMetadata(BdevDesc desc, out byte[]? head)
    {
        head = null;
        long size = (long)desc.Bdev.SizeBytes;
        if (size < BlobFormat.PageSize)
        {
            head = [];
            return 0;
        }
        int rc = LvolMdIo.Open(desc, out LvolMdIo? io);
        if (rc != 0)
        {
            return rc;
        }
        using (io)
        {
            var page = new byte[BlobFormat.PageSize];
            if ((rc = io!.Read(0, page)) != 0)
            {
                return rc;
            }
            long end = BlobFormat.PageSize;
            try
            {
                BlobSuperBlock s = BlobSuperBlock.Parse(page, size);
                end = Math.Max(RegionEnd(s.MdStart, s.MdLength), Math.Max(
                    RegionEnd(s.UsedPageMaskStart, s.UsedPageMaskLength), Math.Max(
                        RegionEnd(s.UsedClusterMaskStart, s.UsedClusterMaskLength),
                        RegionEnd(s.UsedBlobIdMaskStart, s.UsedBlobIdMaskLength))));
            }
            catch (BlobFormatError)
            {
                // the checker says what is wrong with page 0
            }
            if (end > int.MaxValue)
            {
                return LastError.Set(Errno.E2BIG, $"the store on '{desc.Bdev.Name}' has {end} bytes of metadata");
            }
            head = new byte[end];
            return io.Read(0, head);
        }
    }

    private static long RegionEnd(uint start, uint length) => ((long)start + length) * BlobFormat.PageSize;
}
