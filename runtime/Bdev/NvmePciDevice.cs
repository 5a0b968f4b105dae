namespace NativeBdev.Bdev;

/// <summary>An NVMe controller found on the PCI bus (<see cref="INvmePciProbe.Probe"/>).</summary>
internal sealed record NvmePciDevice
{
    /// <summary>DOMAIN:BUS:DEVICE.FUNCTION.</summary>
    public required string Address { get; init; }
    /// <summary>The kernel driver it is bound to ("" for none).</summary>
    public required string Driver { get; init; }
    public required ushort VendorId { get; init; }
    public required ushort DeviceId { get; init; }
    /// <summary>Bound to a driver through which the user-space driver can take it.</summary>
    public required bool Attachable { get; init; }
    /// <summary>The user-space driver has it now.</summary>
    public required bool Attached { get; init; }
}
