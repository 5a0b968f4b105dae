using System;
using System.Buffers.Binary;
using NativeBdev.Env;

namespace NativeBdev.Blob;

/// <summary>Constants of SPDK's blobstore on-disk format (lib/blob/blobstore.h, version 3): every
/// structure is packed little-endian; pages are 4 KiB with a CRC-32C of their first 4092 bytes
/// at 4092. Offsets are named here once so the parsers and the tests agree.</summary>
internal static class BlobFormat
{
    public const int PageSize = 4096;
    public const int CrcOffset = 4092;
    public const uint InitialVersion = 1;
    public const uint CurrentVersion = 3;
    public const uint InvalidPage = 0xFFFFFFFF;
    public const ulong BlobIdHighBit = 1UL << 32;

    // Metadata page: id u64 @0, sequence u32 @8, reserved u32 @12, descriptors @16, next @4088.
    public const int PageIdOffset = 0;
    public const int PageSequenceOffset = 8;
    public const int DescriptorsOffset = 16;
    public const int DescriptorsLength = 4072;
    public const int PageNextOffset = 4088;

    // A descriptor: u8 type, u32 length of the payload that follows (5-byte header).
    public const int DescriptorHeader = 5;
    public const byte DescPadding = 0;
    public const byte DescExtentRle = 1;
    public const byte DescXattr = 2;
    public const byte DescFlags = 3;
    public const byte DescXattrInternal = 4;
    public const byte DescExtentTable = 5;
    public const byte DescExtentPage = 6;

    // Mask pages: u8 type, u32 length in bits, then the bits (bit i at byte i/8, bit i%8).
    public const byte MaskUsedPages = 0;
    public const byte MaskUsedClusters = 1;
    public const byte MaskUsedBlobIds = 2;
    public const int MaskHeader = 5;

    // FLAGS descriptor bits.
    public const ulong ThinProvisioned = 1UL << 0;
    public const ulong InternalXattr = 1UL << 1;
    public const ulong ExtentTable = 1UL << 2;
    public const ulong ExternalSnapshot = 1UL << 3;
    public const ulong InvalidFlagsMask = ThinProvisioned | InternalXattr | ExtentTable | ExternalSnapshot;
    public const ulong ReadOnly = 1UL << 0;
    public const ulong DataRoFlagsMask = ReadOnly;
    public const ulong ClearMethodMask = 3;

    /// <summary>Clusters one EXTENT_PAGE holds: the largest power of two that fits in the
    /// descriptor area after the 9-byte header (SPDK_EXTENTS_PER_EP, 512 for 4 KiB pages).</summary>
    public const int ExtentsPerPage = 512;

    /// <summary>SPDK's blob id: the page index of the blob's first metadata page, with bit 32 set.</summary>
    public static ulong PageToBlobId(uint page) => BlobIdHighBit | page;

    public static uint BlobIdToPage(ulong id) => (uint)id;

    /// <summary>Whether the CRC-32C at 4092 matches bytes 0..4091 (super block and metadata pages).</summary>
    public static bool CrcHolds(ReadOnlySpan<byte> page) =>
        Crc32c.Compute(page[..CrcOffset]) == BinaryPrimitives.ReadUInt32LittleEndian(page[CrcOffset..]);
}
