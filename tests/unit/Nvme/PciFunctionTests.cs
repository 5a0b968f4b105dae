using NativeBdev.Modules.Nvme;
using NativeBdev.Nvme.Pcie;

namespace NativeBdev.Tests.Nvme;

/// <summary>The one list of kernel drivers through which the user-space driver reaches a
/// controller: the access mode <see cref="PciFunction.Open"/> takes under mode=auto, and what
/// the NVMe module's probe reports as attachable.</summary>
public class PciFunctionTests
{
    [Test]
    [Arguments("vfio-pci", "vfio")]
    [Arguments("uio_pci_generic", "uio")]
    [Arguments("igb_uio", "uio")]
    [Arguments("nvme", "")]
    [Arguments("", "")]
    public async Task A_driver_decides_the_access_mode_and_attachability(string driver, string mode)
    {
        await Assert.That(PciFunction.AccessMode(driver)).IsEqualTo(mode);
        await Assert.That(NvmeModule.Attachable(driver)).IsEqualTo(mode.Length != 0);
    }
}
