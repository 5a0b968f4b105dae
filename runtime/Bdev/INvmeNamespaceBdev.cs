namespace NativeBdev.Bdev;

/// <summary>A bdev that is one namespace of an NVMe controller (the PCIe driver's today; an
/// NVMe/TCP initiator's would be one too): what front ends ask of its controller
/// (nb_nvme_ctrlr_get_info and nb_nvme_ctrlr_reset; SPDK's bdev_nvme_get_controllers and
/// bdev_nvme_reset_controller) through the bdev, so that none of them names a module's types.</summary>
internal interface INvmeNamespaceBdev
{
    /// <summary>The controller's identity and state as of now, and this namespace's id.</summary>
    NvmeControllerSnapshot DescribeController();

    /// <summary>Asks the controller to reset; it resets asynchronously. 0 or -errno.
    /// <paramref name="reason"/> says who asked, for the log.</summary>
    int ResetController(string reason);
}
