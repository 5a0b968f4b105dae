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

    /// <summary>A hint for a scan: [start, end) is the first range at or after
    /// <paramref name="offset"/> that may hold nonzero bytes; before start the device reads as
    /// zeros (a file's holes). By default anything may hold data.</summary>
    (long Start, long End) DataExtent(long offset) => (offset, Length);
}
