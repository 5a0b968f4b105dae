using System;

namespace NativeBdev.Blob;

/// <summary>Where the blobstore parsers read from: byte-addressed and synchronous, so the format
/// code depends on no bdev and can be unit tested and fuzzed on a byte array.</summary>
internal interface IBlobDevice
{
    /// <summary>The device's size in bytes.</summary>
    long Length { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; false if the range is
    /// not inside the device (the parsers turn that into a "truncated" error).</summary>
    bool TryRead(long offset, Span<byte> destination);
}
