using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Pcie;

namespace NativeBdev.Modules.Nvme;

/// <summary>pcie:///BDF[/NSID]?mode=auto|vfio|uio&amp;timeout_ms=&amp;name= — namespaces of a
/// local NVMe controller driven from user space (Mayastor's pcie:///0000:00:04.0/1, SPDK's
/// bdev_nvme_attach_controller -t pcie). Without an NSID every active namespace becomes a
/// bdev, named BDFnNSID; the names come back comma-separated.</summary>
internal sealed partial class NvmeModule : IBdevModule
{
    public const long DefaultTimeoutMs = 30_000;

    public string Name => "nvme";
    public ReadOnlySpan<string> Schemes => new[] { "pcie" };

    public bool CreationWaits => true;
    public unsafe int IoContextSize => sizeof(NativeBdev.Nvme.NvmeRequest);

    /// <summary>One bdev_nvme_attach_controller per attached controller, as SPDK writes it:
    /// its name is the address, so its bdevs come back as ADDRnNSID, the names they have here.</summary>
    public void WriteConfig(System.Text.Json.Utf8JsonWriter writer)
    {
        var seen = new System.Collections.Generic.HashSet<string>();
        foreach (Bdev.Bdev b in BdevRegistry.Snapshot())
        {
            if (b is NvmeBdev n && n.Controller.Transport.Name == "pcie" && seen.Add(n.Controller.Address))
            {
                BdevConfig.Entry(writer, "bdev_nvme_attach_controller", w =>
                {
                    w.WriteString("name", n.ControllerName ?? n.Controller.Address);
                    w.WriteString("trtype", "PCIe");
                    w.WriteString("traddr", n.Controller.Address);
                });
            }
        }
    }

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        string[] parts = uri.Name.Split('/');
        if (parts.Length < 1 || parts.Length > 2 || parts[0].Length == 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"'{uri.Text}': expected pcie:///DOMAIN:BUS:DEVICE.FUNCTION[/NSID], e.g. pcie:///0000:00:04.0/1");
        }
        if (!Sysfs.TryParseAddress(parts[0], out string address))
        {
            return LastError.Set(Errno.EINVAL,
                $"'{parts[0]}' is not a PCI address (expected DOMAIN:BUS:DEVICE.FUNCTION such as 0000:00:04.0, " +
                $"or BUS:DEVICE.FUNCTION)");
        }
        uint nsid = 0;
        if (parts.Length == 2 &&
            (!uint.TryParse(parts[1], System.Globalization.NumberStyles.None, null, out nsid) || nsid == 0 ||
             nsid == uint.MaxValue))
        {
            return LastError.Set(Errno.EINVAL, $"namespace id '{parts[1]}' must be an integer in 1 .. 4294967294");
        }
        string mode = uri.Get("mode") ?? "auto";
        if (mode is not ("auto" or "vfio" or "uio"))
        {
            return LastError.Set(Errno.EINVAL, $"mode='{mode}' must be auto, vfio or uio");
        }
        ulong timeoutMs = DefaultTimeoutMs;
        int rc = uri.GetU64("timeout_ms", ref timeoutMs, 0, 3_600_000);
        string? wanted = uri.Get("name"), controllerName = uri.Get("ctrlr_name");
        if (rc != 0 || (rc = uri.CheckAllUsed("mode, timeout_ms, name, ctrlr_name")) != 0)
        {
            return rc;
        }
        if (wanted != null && (nsid == 0 || (rc = BdevRegistry.CheckName(wanted)) != 0))
        {
            return rc != 0 ? rc : LastError.Set(Errno.EINVAL,
                "name= needs a namespace in the URI (pcie:///BDF/NSID?name=...): " +
                "a controller has one bdev per namespace");
        }
        if ((rc = NvmeController.Attach(address, mode, (long)timeoutMs, out NvmeController? ctrl)) != 0)
        {
            return rc;
        }
        return NamespaceBdevs(ctrl!, nsid, wanted, out name, controllerName);
    }

    /// <summary>A bdev for namespace <paramref name="nsid"/> of an attached controller (named
    /// <paramref name="wanted"/>), or for every active one (named CTRLRnNSID, SPDK's names, with
    /// <paramref name="controllerName"/>, else ADDRESSnNSID); the names come back
    /// comma-separated. Takes over the reference Attach took.</summary>
    internal static int NamespaceBdevs(NvmeController ctrl, uint nsid, string? wanted, out string? name,
        string? controllerName = null)
    {
        name = null;
        string address = ctrl.Address;
        int rc = 0;
        uint[] ids = nsid != 0 ? new[] { nsid } : ctrl.NamespaceIds();
        if (ids.Length == 0)
        {
            ctrl.Release();
            return LastError.Set(Errno.ENODEV, $"NVMe controller {address} has no usable namespace");
        }
        var names = new List<string>();
        foreach (uint id in ids)
        {
            if (!ctrl.TryGetNamespace(id, out NvmeNamespaceInfo ns))
            {
                rc = LastError.Set(Errno.ENODEV, $"NVMe controller {address} has no active namespace {id} (active: " +
                    $"{string.Join(", ", ctrl.NamespaceIds())})");
                break;
            }
            string bdevName = wanted ?? $"{controllerName ?? address}n{id}";
            if (BdevRegistry.Find(bdevName) != null)
            {
                rc = LastError.Set(Errno.EEXIST,
                    $"namespace {id} of {address} is attached already, as bdev '{bdevName}'");
                break;
            }
            ctrl.AddRef(); // each bdev holds the controller
            var bdev = new NvmeBdev(bdevName, ctrl, ns) { ControllerName = controllerName };
            if ((rc = BdevRegistry.Register(bdev)) != 0)
            {
                bdev.Unsubscribe();
                ctrl.Release();
                break;
            }
            names.Add(bdevName);
        }
        if (rc == 0 && nsid == 0 && ctrl.EnableAutoAttach(controllerName ?? address))
        {
            ctrl.NamespaceAdded += ns => AttachNew(ctrl, ns, controllerName);
        }
        ctrl.Release(); // the reference Attach took: the bdevs hold their own
        if (rc != 0)
        {
            foreach (string n in names)
            {
                BdevRegistry.Destroy(n, null);
            }
            return rc;
        }
        name = string.Join(",", names);
        return 0;
    }

    /// <summary>A namespace that became active on a controller attached whole (no nsid=)
    /// becomes a bdev, named as its others are (SPDK's bdev_nvme populates new namespaces the
    /// same way). From the admin poll: the bdev is made on a pool thread, as a hot remove is,
    /// so nothing the registry does waits on the admin thread.</summary>
    private static void AttachNew(NvmeController ctrl, NvmeNamespaceInfo ns, string? controllerName)
    {
        if (!ctrl.TryAddRef())
        {
            return; // the controller is detaching
        }
        System.Threading.ThreadPool.UnsafeQueueUserWorkItem<object?>(_ =>
        {
            string bdevName = $"{ctrl.AutoAttachPrefix}n{ns.Nsid}";
            if (BdevRegistry.Find(bdevName) != null)
            {
                Log.Info($"nvme {ctrl.Address}: namespace {ns.Nsid} is attached already, as bdev '{bdevName}'");
                ctrl.Release();
                return;
            }
            var bdev = new NvmeBdev(bdevName, ctrl, ns) { ControllerName = controllerName };
            if (BdevRegistry.Register(bdev) != 0)
            {
                Log.Warn($"nvme {ctrl.Address}: new namespace {ns.Nsid} not attached: {LastError.Message}");
                bdev.Unsubscribe();
                ctrl.Release();
                return;
            }
            Log.Notice($"nvme {ctrl.Address}: new namespace {ns.Nsid} attached as bdev '{bdevName}'");
        }, null, preferLocal: false);
    }
}
