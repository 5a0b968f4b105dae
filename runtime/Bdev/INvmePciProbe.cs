using System.Collections.Generic;

namespace NativeBdev.Bdev;

/// <summary>A module that finds NVMe controllers on the PCI bus (nb_nvme_probe; SPDK's
/// spdk_nvme_probe over PCIe), reached through <see cref="BdevModules.Find{T}"/>, so the front
/// end that lists them names no module or driver type.</summary>
internal interface INvmePciProbe
{
    /// <summary>Every NVMe controller the system shows, by address.</summary>
    IReadOnlyList<NvmePciDevice> Probe();
}
