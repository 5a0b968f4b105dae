namespace NativeBdev.Bdev;

/// <summary>An NVMe controller as seen from one of its namespace bdevs
/// (<see cref="INvmeNamespaceBdev.DescribeController"/>): plain values, so the front end that
/// reports them (struct nb_nvme_ctrlr_info) depends on no driver type.</summary>
internal sealed record NvmeControllerSnapshot
{
    /// <summary>Where the controller is: a PCI address (DOMAIN:BUS:DEVICE.FUNCTION).</summary>
    public required string Address { get; init; }
    /// <summary>How the driver reaches it ("vfio", "uio").</summary>
    public required string Mode { get; init; }
    public required string Model { get; init; }
    public required string Serial { get; init; }
    public required string Firmware { get; init; }
    /// <summary>The driver's state of the controller ("ready", "resetting", "failed", ...).</summary>
    public required string State { get; init; }
    /// <summary>The namespace the asking bdev is.</summary>
    public required uint Nsid { get; init; }
    public required uint NamespaceCount { get; init; }
    public required uint MaxTransferBytes { get; init; }
    public required int IoQueues { get; init; }
    public required int IoQueueEntries { get; init; }
    /// <summary>Resets the controller has been through.</summary>
    public required long Resets { get; init; }
    /// <summary>SPDK's controller name (bdev_nvme_attach_controller -b): the bdev is NAMEnNSID;
    /// the address when the bdev was made without one.</summary>
    public required string ControllerName { get; init; }
    /// <summary>CNTLID as the fabric's Connect returned it (0 where the transport has none to report).</summary>
    public required int ControllerId { get; init; }
    /// <summary>SPDK's transport id: trtype (PCIe, TCP), traddr, trsvcid, subnqn, adrfam and the host NQN.</summary>
    public required (string TrType, string TrAddr, string TrSvcId, string SubNqn, string AdrFam, string HostNqn) Trid
    { get; init; }
}
