using System.Text;
using NativeBdev.Bdev;

namespace NativeBdev.Nbd;

/// <summary>A bdev offered under an export name. The export names the bdev rather than
/// holding it open: each connection opens it when a client chooses the export.</summary>
internal sealed class NbdExport
{
    public NbdExport(string name, string bdevName, bool readOnly, string description)
    {
        Name = name;
        BdevName = bdevName;
        ReadOnly = readOnly;
        Description = description;
        NameUtf8 = Encoding.UTF8.GetBytes(name);
        DescriptionUtf8 = Encoding.UTF8.GetBytes(description);
    }

    public string Name { get; }
    public string BdevName { get; }
    public bool ReadOnly { get; }
    public string Description { get; }
    public byte[] NameUtf8 { get; }
    public byte[] DescriptionUtf8 { get; }

    /// <summary>What a client is told about the export backed by <paramref name="bdev"/> now.</summary>
    public NbdExportGeometry Geometry(Bdev.Bdev bdev, uint maxPayloadBytes)
    {
        ushort flags = NbdProtocol.FlagHasFlags | NbdProtocol.FlagSendFlush | NbdProtocol.FlagSendFua |
            NbdProtocol.FlagCanMultiConn;
        if (ReadOnly)
        {
            flags |= NbdProtocol.FlagReadOnly;
        }
        else
        {
            if (bdev.IoTypeSupported(BdevIoType.Unmap))
            {
                flags |= NbdProtocol.FlagSendTrim;
            }
            if (bdev.IoTypeSupported(BdevIoType.WriteZeroes))
            {
                flags |= NbdProtocol.FlagSendWriteZeroes;
            }
        }
        uint bs = bdev.BlockSize;
        return new NbdExportGeometry(bdev.SizeBytes, bs, System.Math.Max(bs, 4096u), maxPayloadBytes, flags);
    }
}
