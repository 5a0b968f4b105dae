using System;
using NativeBdev.Bdev;

namespace NativeBdev.Targets.Nvmf;

/// <summary>A namespace of a subsystem: a bdev opened by the target (on the target's
/// thread) for as long as the namespace exists, with the identifiers hosts see. Connections
/// take their own I/O channel on it on their thread.</summary>
internal sealed class NvmfNamespace
{
    public NvmfNamespace(uint nsid, BdevDesc desc, Guid uuid, byte[] nguid, ulong eui64)
    {
        Nsid = nsid;
        Desc = desc;
        Uuid = uuid;
        Nguid = nguid;
        Eui64 = eui64;
    }

    public uint Nsid { get; }

    public BdevDesc Desc { get; }

    public Bdev.Bdev Bdev => Desc.Bdev;

    public Guid Uuid { get; }

    /// <summary>16 bytes; all zero when none was given.</summary>
    public byte[] Nguid { get; }

    public ulong Eui64 { get; }

    /// <summary>Set when removed: connections drop their channel on their next use.</summary>
    public bool Removed { get; set; }
}
