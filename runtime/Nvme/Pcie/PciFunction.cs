using System;
using System.IO;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Pcie;

/// <summary>A PCI function the driver owns from user space: its BAR0 mapped into the
/// process and its configuration space. How it is reached (VFIO or UIO) is the subclass;
/// how host memory is addressed by the device follows from it (see <see cref="IovaMode"/>).</summary>
internal abstract unsafe class PciFunction : IDisposable
{
    public const int ConfigCommand = 0x04;
    public const ushort CommandMemorySpace = 1 << 1;
    public const ushort CommandBusMaster = 1 << 2;

    public string Address { get; }
    public abstract string Mode { get; }
    /// <summary>The device addresses this access method needs the DMA pool to hand out.</summary>
    public abstract IovaMode IovaMode { get; }
    public byte* Bar0 { get; protected set; }
    public long Bar0Size { get; protected set; }

    protected PciFunction(string address) => Address = address;

    /// <summary>Host tests and the instruction-count benchmark: a simulated controller for
    /// an address (no NVMe on the build machine). Not reachable from the C API.</summary>
    internal static Func<string, PciFunction?>? Simulated;

    public abstract int ReadConfig(int offset, void* buf, int len);
    public abstract int WriteConfig(int offset, void* buf, int len);
    public abstract void Dispose();

    /// <summary>Memory space and bus mastering on: without bus mastering the controller
    /// cannot read a queue entry or write a completion.</summary>
    public int EnableBusMaster()
    {
        ushort cmd;
        if (ReadConfig(ConfigCommand, &cmd, 2) != 0)
        {
            return LastError.Set(Errno.EIO, $"{Address}: cannot read the PCI command register");
        }
        if ((cmd & (CommandMemorySpace | CommandBusMaster)) == (CommandMemorySpace | CommandBusMaster))
        {
            return 0;
        }
        cmd |= CommandMemorySpace | CommandBusMaster;
        return WriteConfig(ConfigCommand, &cmd, 2) == 0 ? 0
            : LastError.Set(Errno.EIO, $"{Address}: cannot enable bus mastering in the PCI command register");
    }

    /// <summary>Bus mastering off: the function can no longer read or write host memory.</summary>
    public void DisableBusMaster()
    {
        ushort cmd;
        if (ReadConfig(ConfigCommand, &cmd, 2) == 0)
        {
            cmd &= unchecked((ushort)~CommandBusMaster);
            WriteConfig(ConfigCommand, &cmd, 2);
        }
    }

    /// <summary>The access mode through which the user-space driver reaches a function bound
    /// to <paramref name="driver"/>: "vfio" (vfio-pci), "uio" (uio_pci_generic or igb_uio:
    /// physical addresses), or "" (any other driver, or none). The one list of usable drivers:
    /// <see cref="Open"/> decides by it, and the NVMe module's probe reports a controller
    /// attachable by it.</summary>
    public static string AccessMode(string driver) => driver switch
    {
        "vfio-pci" => "vfio",
        "uio_pci_generic" or "igb_uio" => "uio",
        _ => "",
    };

    /// <summary>Opens the function through the driver it is bound to (vfio-pci or
    /// uio_pci_generic), or the one <paramref name="mode"/> names ("vfio", "uio", "auto").</summary>
    public static int Open(string address, string mode, out PciFunction? function)
    {
        function = Simulated?.Invoke(address);
        if (function != null)
        {
            return 0;
        }
        string dir = Sysfs.DevicePath(address);
        if (!Directory.Exists(dir))
        {
            return LastError.Set(Errno.ENODEV, $"no PCI device {address} (no {dir})");
        }
        uint cls = Sysfs.ReadHex(dir + "/class");
        if ((cls >> 8) != 0x0108)
        {
            return LastError.Set(Errno.ENODEV, $"PCI device {address} is not an NVMe controller (class 0x{cls:x6})");
        }
        string driver = Sysfs.Driver(address);
        string bound = AccessMode(driver);
        string want = mode == "auto" ? bound : mode;
        if (want == "")
        {
            return LastError.Set(Errno.EBUSY, driver.Length == 0
                ? $"NVMe controller {address} is bound to no driver: bind it to vfio-pci (or uio_pci_generic) first"
                : $"NVMe controller {address} is bound to '" +
                  $"{driver}', not to vfio-pci or uio_pci_generic: unbind it and bind it to vfio-pci");
        }
        if (want == "vfio" && bound != "vfio")
        {
            return LastError.Set(Errno.EBUSY, $"mode=vfio: NVMe controller {address} is bound to '" +
                $"{(driver.Length == 0 ? "no driver" : driver)}', not vfio-pci");
        }
        if (want == "uio" && bound != "uio")
        {
            return LastError.Set(Errno.EBUSY, $"mode=uio: NVMe controller {address} is bound to '" +
                $"{(driver.Length == 0 ? "no driver" : driver)}', not uio_pci_generic");
        }
        if (want == "vfio")
        {
            return VfioFunction.Open(address, out function);
        }
        return UioFunction.Open(address, out function);
    }
}
