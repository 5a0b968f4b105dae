using System;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Lvol;

/// <summary>The checker on a bdev: opened read-only and unclaimed, the metadata part (super block,
/// masks, metadata region) read in big I/Os as <see cref="LvolStoreChecker"/> asks for it
/// (<see cref="LvolChunkDevice"/>: no store is too big for memory). Nothing
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
            long size = (long)desc.Bdev.SizeBytes;
            if (size < BlobFormat.PageSize)
            {
                report = LvolStoreChecker.Check(new LvolPrefixDevice([], size));
                return 0;
            }
            if ((rc = LvolMdIo.Open(desc, out LvolMdIo? io, LvolChunkDevice.ChunkBytes)) != 0)
            {
                return rc;
            }
            using (io)
            {
                if ((rc = MetadataEnd(io!, size, out long end)) != 0)
                {
                    return rc;
                }
                var device = new LvolChunkDevice(io!, desc.Bdev, end);
                report = LvolStoreChecker.Check(device);
                return device.Error != 0 ? LastError.Set(-device.Error,
                    $"lvol check of '{bdevName}': a metadata read failed ({device.Error})") : 0;
            }
        }
        finally
        {
            BdevRegistry.Close(desc!);
        }
    }

    /// <summary>Page 0's end, and when it reads as a super block, the end of the last region it
    /// names: what the checker reads (in chunks, as it asks); its reads past that answer "cannot
    /// be read".</summary>
    private static int MetadataEnd(LvolMdIo io, long size, out long end)
    {
        end = BlobFormat.PageSize;
        var page = new byte[BlobFormat.PageSize];
        int rc = io.Read(0, page);
        if (rc != 0)
        {
            return rc;
        }
        try
        {
            BlobSuperBlock s = BlobSuperBlock.Parse(page, size);
            end = Math.Max(RegionEnd(s.MdStart, s.MdLength), Math.Max(
                RegionEnd(s.UsedPageMaskStart, s.UsedPageMaskLength), Math.Max(
                    RegionEnd(s.UsedClusterMaskStart, s.UsedClusterMaskLength),
                    RegionEnd(s.UsedBlobIdMaskStart, s.UsedBlobIdMaskLength))));
            end = Math.Min(end, size);
        }
        catch (BlobFormatError)
        {
            // the checker says what is wrong with page 0
        }
        return 0;
    }

    private static long RegionEnd(uint start, uint length) => ((long)start + length) * BlobFormat.PageSize;
}
