using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Pcie;

namespace NativeBdev.Modules.Nvme;

/// <summary>The module lists the NVMe controllers on the PCI bus (<see cref="INvmePciProbe"/>),
/// and decides which of them it could take.</summary>
internal sealed partial class NvmeModule : INvmePciProbe
{
    public IReadOnlyList<NvmePciDevice> Probe()
    {
        var found = new List<NvmePciDevice>();
        foreach (string address in Sysfs.NvmeControllers())
        {
            string dir = Sysfs.DevicePath(address);
            string driver = Sysfs.Driver(address);
            found.Add(new NvmePciDevice
            {
                Address = address,
                Driver = driver,
                VendorId = (ushort)Sysfs.ReadHex(dir + "/vendor"),
                DeviceId = (ushort)Sysfs.ReadHex(dir + "/device"),
                Attachable = Attachable(driver),
                Attached = NvmeController.Find(address) != null,
            });
        }
        return found;
    }

    /// <summary>The attachability policy: the kernel drivers through which the user-space
    /// driver reaches a controller (VFIO, or UIO's physical addresses). The same list decides
    /// the access mode when a controller is opened (<see cref="PciFunction.Open"/>).</summary>
    public static bool Attachable(string driver) => driver is "vfio-pci" or "uio_pci_generic" or "igb_uio";
}
