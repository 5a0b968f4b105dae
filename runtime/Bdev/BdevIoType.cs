namespace NativeBdev.Bdev;

/// <summary>I/O types, numbered as the C header's enum nb_bdev_io_type.</summary>
internal enum BdevIoType : byte
{
    Invalid = 0,
    Read = 1,
    Write = 2,
    Unmap = 3,
    Flush = 4,
    Reset = 5,
    WriteZeroes = 6,
    NvmeAdmin = 7,
    NvmeIo = 8,
    Count = 9,
}
