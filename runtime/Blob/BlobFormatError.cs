using System;

namespace NativeBdev.Blob;

/// <summary>Malformed on-disk metadata: thrown inside the parsers only and caught at their entry
/// (<see cref="BlobStoreImage.Load"/>), which turns it into an errno and this message; it never
/// leaves the Blob layer.</summary>
internal sealed class BlobFormatError(int errno, string message) : Exception(message)
{
    /// <summary>A negative errno: -EILSEQ for bad content, -EINVAL for an inconsistent store.</summary>
    public int Errno { get; } = errno;
}
