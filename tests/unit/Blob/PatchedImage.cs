using System.Buffers.Binary;
using NativeBdev.Blob;
using NativeBdev.Env;

namespace NativeBdev.Tests.Blob;

/// <summary>A fixture image with its metadata (every page up to the end of the md region and the
/// masks) copied so a test can corrupt it; the data region is read from the shared image.</summary>
internal sealed class PatchedImage : IBlobDevice
{
    private readonly byte[] _base;
    private readonly byte[] _pristine;

    public PatchedImage(string image)
    {
        _base = LvsFixtures.Image(image);
        var s = BlobSuperBlock.Parse(_base.AsSpan(0, 4096), _base.Length);
        uint end = Math.Max(s.MdStart + s.MdLength, Math.Max(s.UsedBlobIdMaskStart + s.UsedBlobIdMaskLength,
            Math.Max(s.UsedClusterMaskStart + s.UsedClusterMaskLength, s.UsedPageMaskStart + s.UsedPageMaskLength)));
        _pristine = _base.AsSpan(0, (int)end * 4096).ToArray();
        Head = (byte[])_pristine.Clone();
        Length = _base.Length;
        MdStart = s.MdStart;
        MdLength = s.MdLength;
    }

    public byte[] Head { get; }
    public long Length { get; set; }
    public uint MdStart { get; }
    public uint MdLength { get; }

    public void Reset()
    {
        _pristine.CopyTo(Head, 0);
        Length = _base.Length;
    }

    public Span<byte> MdPage(uint index) => Head.AsSpan((int)(MdStart + index) * 4096, 4096);

    /// <summary>Recomputes the CRC of the page at byte offset <paramref name="pageOffset"/> of the head.</summary>
    public void FixCrc(int pageOffset)
    {
        Span<byte> p = Head.AsSpan(pageOffset, 4096);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4092..], Crc32c.Compute(p[..4092]));
    }

    public void FixMdCrc(uint index) => FixCrc((int)(MdStart + index) * 4096);

    public bool TryRead(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > Length || destination.Length > Length - offset)
        {
            return false;
        }
        for (int i = 0; i < destination.Length;)
        {
            long at = offset + i;
            if (at < Head.Length)
            {
                int n = (int)Math.Min(destination.Length - i, Head.Length - at);
                Head.AsSpan((int)at, n).CopyTo(destination[i..]);
                i += n;
            }
            else
            {
                _base.AsSpan((int)at, destination.Length - i).CopyTo(destination[i..]);
                i = destination.Length;
            }
        }
        return true;
    }
}
