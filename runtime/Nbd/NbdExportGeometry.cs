namespace NativeBdev.Nbd;

/// <summary>What a client is told about an export and what its requests are checked
/// against: size, block sizes (NBD_INFO_BLOCK_SIZE), the transmission flags.</summary>
internal readonly record struct NbdExportGeometry(ulong SizeBytes, uint BlockSize, uint PreferredBlockSize,
    uint MaxPayloadBytes, ushort Flags)
{
    public bool ReadOnly => (Flags & NbdProtocol.FlagReadOnly) != 0;

    public bool Has(ushort flag) => (Flags & flag) != 0;
}
