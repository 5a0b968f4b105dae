using System;

namespace NativeBdev.Blob;

/// <summary>An <see cref="IBlobDevice"/> over memory: tests, fuzzing, and images read whole.</summary>
internal sealed class BlobByteDevice(ReadOnlyMemory<byte> bytes) : IBlobDevice
{
    public long Length => bytes.Length;

    public bool TryRead(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > bytes.Length || destination.Length > bytes.Length - offset)
        {
            return false;
        }
        bytes.Span.Slice((int)offset, destination.Length).CopyTo(destination);
        return true;
    }
}
