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

    /// <summary>The attachability policy: a controller is attachable when the kernel driver it
    /// is bound to gives the user-space driver an access mode (VFIO, or UIO's physical
    /// addresses): <see cref="PciFunction.AccessMode"/>, the list by which
    /// <see cref="PciFunction.Open"/> decides.</summary>
    public static bool Attachable(string driver) => PciFunction.AccessMode(driver).Length != 0;
}
