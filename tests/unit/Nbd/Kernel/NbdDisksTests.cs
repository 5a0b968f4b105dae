using NativeBdev.Interop;
using NativeBdev.Nbd.Kernel;

namespace NativeBdev.Tests.Nbd.Kernel;

/// <summary>How nbd_start_disk names and chooses a kernel device, as SPDK's nbd_rpc.c does: a
/// path /dev/nbdN with nothing after the number, refused when the driver shows it connected
/// (/sys/block/nbdN/pid), and without a path the first free one until the devices end. Run
/// against directories of the test's own standing in for /dev and /sys/block.</summary>
[NotInParallel(nameof(NbdDisksTests))]
public class NbdDisksTests
{
    private static (string dev, string sys) Fake(int devices, params int[] connected)
    {
        string root = Path.Combine(Path.GetTempPath(), $"nbd-disks-{Guid.NewGuid():N}");
        string dev = Path.Combine(root, "dev"), sys = Path.Combine(root, "sys");
        Directory.CreateDirectory(dev);
        for (int i = 0; i < devices; i++)
        {
            File.WriteAllText(Path.Combine(dev, $"nbd{i}"), "");
            Directory.CreateDirectory(Path.Combine(sys, $"nbd{i}"));
        }
        foreach (int i in connected)
        {
            File.WriteAllText(Path.Combine(sys, $"nbd{i}", "pid"), "1234\n");
        }
        NbdDisks.DevDirectory = dev;
        NbdDisks.SysBlockDirectory = sys;
        return (dev, sys);
    }

    private static void Restore()
    {
        NbdDisks.DevDirectory = "/dev";
        NbdDisks.SysBlockDirectory = "/sys/block";
    }

    [Test]
    public async Task Only_dev_nbd_and_a_number_is_a_device_path()
    {
        await Assert.That(NbdDisks.Index("/dev/nbd0")).IsEqualTo(0);
        await Assert.That(NbdDisks.Index("/dev/nbd15")).IsEqualTo(15);
        foreach (string bad in new[] { "/dev/nbd", "/dev/nbd0p1", "/dev/nbdx", "/dev/sda", "nbd0", "/dev/nbd-1",
                     "/dev/nbd99999999999" })
        {
            await Assert.That(NbdDisks.Index(bad)).IsEqualTo(-1);
            await Assert.That(NbdDisks.CheckAvailable(bad)).IsEqualTo(-Errno.ENODEV);
        }
    }

    [Test]
    public async Task The_first_free_device_is_chosen_and_connected_ones_are_skipped()
    {
        (string dev, _) = Fake(4, 0, 2);
        try
        {
            await Assert.That(NbdDisks.CheckAvailable($"{dev}/nbd0")).IsEqualTo(-Errno.EBUSY);
            await Assert.That(NbdDisks.CheckAvailable($"{dev}/nbd1")).IsEqualTo(0);
            await Assert.That(NbdDisks.FindFree(0, out int next)).IsEqualTo($"{dev}/nbd1");
            await Assert.That(next).IsEqualTo(2);
            await Assert.That(NbdDisks.FindFree(next, out next)).IsEqualTo($"{dev}/nbd3");
            await Assert.That(NbdDisks.FindFree(next, out _)).IsNull(); // the devices ended
        }
        finally
        {
            Restore();
        }
    }

    [Test]
    public async Task Without_the_nbd_module_there_is_no_device_to_choose()
    {
        Fake(0);
        try
        {
            await Assert.That(NbdDisks.FindFree(0, out _)).IsNull();
        }
        finally
        {
            Restore();
        }
    }
}
