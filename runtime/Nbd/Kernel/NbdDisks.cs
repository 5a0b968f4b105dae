using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nbd.Kernel;

/// <summary>The process's kernel NBD disks by device path, and how a device is chosen: a path
/// of the form /dev/nbdN, not one of ours, and not in use by anyone (the driver shows a
/// connected device's server in /sys/block/nbdN/pid), as SPDK's nbd_start_disk checks.</summary>
internal static class NbdDisks
{
    private static readonly object s_lock = new();
    private static readonly List<NbdDisk> s_disks = new();

    /// <summary>Where the devices are (/dev) and the driver's view of them (/sys/block): tests
    /// point them at directories of their own.</summary>
    internal static string DevDirectory { get; set; } = "/dev";
    internal static string SysBlockDirectory { get; set; } = "/sys/block";

    public static NbdDisk? Find(string path)
    {
        lock (s_lock)
        {
            return s_disks.Find(d => d.Path == path);
        }
    }

    public static NbdDisk[] Snapshot()
    {
        lock (s_lock)
        {
            return s_disks.ToArray();
        }
    }

    internal static int Register(NbdDisk disk)
    {
        lock (s_lock)
        {
            if (s_disks.Exists(d => d.Path == disk.Path))
            {
                return LastError.Set(Errno.EBUSY, $"{disk.Path} is already exported");
            }
            s_disks.Add(disk);
        }
        return 0;
    }

    internal static void Unregister(NbdDisk disk)
    {
        lock (s_lock)
        {
            s_disks.Remove(disk);
        }
    }

    /// <summary>The device index of a path /dev/nbdN (no tail), or -1.</summary>
    public static int Index(string path)
    {
        string prefix = DevDirectory + "/nbd";
        if (!path.StartsWith(prefix, System.StringComparison.Ordinal) || path.Length == prefix.Length)
        {
            return -1;
        }
        int n = 0;
        for (int i = prefix.Length; i < path.Length; i++)
        {
            char c = path[i];
            if (c < '0' || c > '9' || n > 100_000_000)
            {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }

    /// <summary>0 when <paramref name="path"/> may be free, -EBUSY when it is in use (here or by
    /// another program), -ENODEV (with a message) when it is no nbd device path.</summary>
    public static int CheckAvailable(string path)
    {
        int index = Index(path);
        if (index < 0)
        {
            return LastError.Set(Errno.ENODEV, $"illegal nbd device {path}");
        }
        if (Find(path) != null)
        {
            return LastError.Set(Errno.EBUSY, $"{path} is exported by this process");
        }
        if (File.Exists($"{SysBlockDirectory}/nbd{index}/pid"))
        {
            return LastError.Set(Errno.EBUSY,
                $"{path} is in use (it has a server: {SysBlockDirectory}/nbd{index}/pid)");
        }
        return 0;
    }

    /// <summary>The first free /dev/nbdN from index <paramref name="from"/> on, or null when
    /// the devices run out (none at all: the nbd module is not loaded).</summary>
    public static string? FindFree(int from, out int next)
    {
        for (int i = from; ; i++)
        {
            string path = $"{DevDirectory}/nbd{i}";
            if (!File.Exists(path))
            {
                next = i;
                return null;
            }
            if (CheckAvailable(path) == 0)
            {
                next = i + 1;
                return path;
            }
        }
    }

    /// <summary>SPDK's nbd_start_disk (its RPC and nb_nbd_disk_start): <paramref name="bdevName"/>
    /// on <paramref name="device"/>, checked first (-ENODEV no /dev/nbdN path, -EBUSY in use),
    /// or without one on the first free /dev/nbdN, and on the next one when that turns out busy
    /// (another program took it meanwhile). On the current thread, which the disk's connection
    /// lives on. 0: <paramref name="done"/> runs later on this thread with 0 and the device (the
    /// disk serves) or -errno (nothing is left of it; <see cref="LastError"/> says why). -errno:
    /// it failed at once and <paramref name="done"/> never runs.</summary>
    public static int StartDisk(string bdevName, string? device, Action<int, string> done)
    {
        int next = 0;
        bool picked = device == null;
        if (device != null)
        {
            int rc = CheckAvailable(device);
            if (rc != 0)
            {
                return rc;
            }
        }
        else if ((device = FindFree(0, out next)) == null)
        {
            return LastError.Set(Errno.ENODEV,
                $"nbd device not found: no free {DevDirectory}/nbdN (is the nbd module loaded?)");
        }
        return Attempt(bdevName, device, picked, next, done);
    }

    private static int Attempt(string bdevName, string device, bool picked, int next, Action<int, string> done)
    {
        while (true)
        {
            string dev = device;
            int after = next;
            int rc = NbdDisk.Start(bdevName, dev, status =>
            {
                if (status == -Errno.EBUSY && picked && FindFree(after, out int later) is { } other)
                {
                    int again = Attempt(bdevName, other, picked, later, done);
                    if (again != 0)
                    {
                        done(again, other);
                    }
                    return;
                }
                done(status, dev);
            });
            if (rc != -Errno.EBUSY || !picked || FindFree(next, out next) is not { } free)
            {
                return rc;
            }
            device = free;
        }
    }

    /// <summary>SPDK's nbd section: an nbd_start_disk entry per disk.</summary>
    public static void WriteConfig(Utf8JsonWriter writer)
    {
        foreach (NbdDisk d in Snapshot())
        {
            BdevConfig.Entry(writer, "nbd_start_disk", w =>
            {
                w.WriteString("nbd_device", d.Path);
                w.WriteString("bdev_name", d.BdevName);
            });
        }
    }
}
