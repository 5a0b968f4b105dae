using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Pcie;

/// <summary>A PCI function through uio_pci_generic: BAR0 mapped from sysfs's resource0,
/// configuration space through sysfs's config file, device addresses physical (there is no
/// IOMMU between the device and memory), so the DMA pool switches to physical addresses.</summary>
internal sealed unsafe class UioFunction : PciFunction
{
    private int _configFd = -1;
    private int _uioFd = -1;

    private UioFunction(string address) : base(address) { }

    public override string Mode => "uio";
    public override IovaMode IovaMode => IovaMode.Pa;

    public static int Open(string address, out PciFunction? function)
    {
        function = null;
        DmaPool? pool = NbEnvironment.Dma;
        if (pool == null)
        {
            return NbEnvironment.NotInitialized();
        }
        string dir = Sysfs.DevicePath(address);
        string[] uio;
        try
        {
            uio = Directory.Exists(dir + "/uio") ? Directory.GetDirectories(dir + "/uio") : Array.Empty<string>();
        }
        catch (Exception)
        {
            uio = Array.Empty<string>();
        }
        if (uio.Length == 0)
        {
            return LastError.Set(Errno.ENODEV, $"{address} has no uio device (is uio_pci_generic bound to it?)");
        }
        var f = new UioFunction(address);
        // Holding /dev/uioN open claims the device against a second user.
        f._uioFd = VfioContainer.OpenPath("/dev/" + Path.GetFileName(uio[0]));
        if (f._uioFd < 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e == Errno.ENOENT ? Errno.ENODEV : e,
                $"cannot open /dev/{Path.GetFileName(uio[0])}: {Libc.StrError(e)}" +
                $"{(e == Errno.EACCES ? " (UIO needs root)" : "")}");
        }
        int rc = pool.UsePhysicalAddresses();
        if (rc != 0)
        {
            f.Dispose();
            return rc;
        }
        f._configFd = VfioContainer.OpenPath(dir + "/config");
        int res = VfioContainer.OpenPath(dir + "/resource0");
        if (f._configFd < 0 || res < 0)
        {
            int e = Libc.LastErrno;
            if (res >= 0)
            {
                Libc.close(res);
            }
            f.Dispose();
            return LastError.Set(e, $"cannot open {dir}/config or resource0: {Libc.StrError(e)} (UIO needs root)");
        }
        Libc.Stat st;
        long size = Libc.fstat(res, &st) == 0 ? st.Size : 0;
        void* p = size >= 0x2000
            ? Libc.mmap(null, (nuint)size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, res, 0)
            : (void*)Libc.MAP_FAILED;
        int err = Libc.LastErrno;
        Libc.close(res);
        if ((nint)p == Libc.MAP_FAILED)
        {
            f.Dispose();
            return LastError.Set(Errno.EIO, $"{address}: mmap of resource0 ({size} bytes): {Libc.StrError(err)}");
        }
        f.Bar0 = (byte*)p;
        f.Bar0Size = size;
        function = f;
        return 0;
    }

    public override int ReadConfig(int offset, void* buf, int len) =>
        Libc.pread(_configFd, buf, (nuint)len, offset) == len ? 0 : -Errno.EIO;

    public override int WriteConfig(int offset, void* buf, int len) =>
        Libc.pwrite(_configFd, buf, (nuint)len, offset) == len ? 0 : -Errno.EIO;

    public override void Dispose()
    {
        if (Bar0 != null)
        {
            Libc.munmap(Bar0, (nuint)Bar0Size);
            Bar0 = null;
        }
        if (_configFd >= 0)
        {
            Libc.close(_configFd);
            _configFd = -1;
        }
        if (_uioFd >= 0)
        {
            Libc.close(_uioFd);
            _uioFd = -1;
        }
    }
}
