using System;
using NativeBdev.Blob;

namespace NativeBdev.Modules.Lvol;

/// <summary>The blobstore reader's view of a base bdev during an import: the metadata part of the
/// device (super block, masks, metadata region: everything the reader touches), read once in big
/// I/Os, then parsed from memory; <see cref="Length"/> is the whole device's size, as the super
/// block's checks need it.</summary>
internal sealed class LvolPrefixDevice(byte[] prefix, long deviceBytes) : IBlobDevice
{
    public long Length => deviceBytes;

    public bool TryRead(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > prefix.Length || destination.Length > prefix.Length - offset)
        {
            return false;
        }
        prefix.AsSpan((int)offset, destination.Length).CopyTo(destination);
        return true;
    }
}
