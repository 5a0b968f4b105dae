using System;
using System.Collections.Generic;
using System.IO;

namespace NativeBdev.Nvme.Pcie;

/// <summary>Reading /sys/bus/pci: addresses, classes, drivers. Set-up paths only.</summary>
internal static class Sysfs
{
    public static string Root = "/sys/bus/pci/devices";

    public static string DevicePath(string address) => Root + "/" + address;

    /// <summary>Parses "DDDD:BB:DD.F" or "BB:DD.F" into the canonical lower-case form.</summary>
    public static bool TryParseAddress(string text, out string canonical)
    {
        canonical = "";
        string[] parts = text.Split(':');
        if (parts.Length == 2)
        {
            parts = ["0000", parts[0], parts[1]];
        }
        if (parts.Length != 3)
        {
            return false;
        }
        string[] df = parts[2].Split('.');
        if (df.Length != 2 || !Hex(parts[0], 4, 0xFFFF, out uint dom) || !Hex(parts[1], 2, 0xFF, out uint bus) ||
            !Hex(df[0], 2, 0x1F, out uint dev) || !Hex(df[1], 1, 7, out uint fn))
        {
            return false;
        }
        canonical = $"{dom:x4}:{bus:x2}:{dev:x2}.{fn:x1}";
        return true;
    }

    private static bool Hex(string s, int maxLen, uint max, out uint v)
    {
        v = 0;
        if (s.Length == 0 || s.Length > maxLen)
        {
            return false;
        }
        foreach (char c in s)
        {
            int d = c is >= '0' and <= '9' ? c - '0'
                : c is >= 'a' and <= 'f' ? c - 'a' + 10
                : c is >= 'A' and <= 'F' ? c - 'A' + 10
                : -1;
            if (d < 0)
            {
                return false;
            }
            v = v * 16 + (uint)d;
        }
        return v <= max;
    }

    public static uint ReadHex(string path)
    {
        try
        {
            string s = File.ReadAllText(path).Trim();
            if (s.StartsWith("0x", StringComparison.Ordinal))
            {
                s = s.Substring(2);
            }
            return Convert.ToUInt32(s, 16);
        }
        catch (Exception)
        {
            return 0;
        }
    }

    /// <summary>The name of the driver a device is bound to ("" when none).</summary>
    public static string Driver(string address) => LinkName(DevicePath(address) + "/driver");

    public static string LinkName(string path)
    {
        try
        {
            var fi = new FileInfo(path);
            string? target = fi.LinkTarget;
            return target == null ? "" : Path.GetFileName(target.TrimEnd('/'));
        }
        catch (Exception)
        {
            return "";
        }
    }

    /// <summary>Every NVMe controller (class 01:08:02) on the PCI bus.</summary>
    public static List<string> NvmeControllers()
    {
        var list = new List<string>();
        try
        {
            foreach (string dir in Directory.GetDirectories(Root))
            {
                if ((ReadHex(dir + "/class") & 0xFFFF00) == 0x010800)
                {
                    list.Add(Path.GetFileName(dir));
                }
            }
        }
        catch (Exception)
        {
            // no PCI bus visible (a container): no controllers
        }
        list.Sort(StringComparer.Ordinal);
        return list;
    }
}
