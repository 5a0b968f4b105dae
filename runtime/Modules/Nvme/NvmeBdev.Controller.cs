using NativeBdev.Bdev;

namespace NativeBdev.Modules.Nvme;

/// <summary>A namespace bdev answers for its controller (<see cref="INvmeNamespaceBdev"/>):
/// front ends ask the bdev layer's interface, never this module's types.</summary>
internal sealed partial class NvmeBdev : INvmeNamespaceBdev
{
    public NvmeControllerSnapshot DescribeController() => new()
    {
        Address = Controller.Address,
        Mode = Controller.Mode,
        Model = Controller.Model,
        Serial = Controller.Serial,
        Firmware = Controller.Firmware,
        State = Controller.StateName,
        Nsid = Nsid,
        NamespaceCount = Controller.NamespaceCount,
        MaxTransferBytes = Controller.MaxTransferBytes,
        IoQueues = Controller.MaxIoQueues,
        IoQueueEntries = Controller.IoQueueEntries,
        Resets = Controller.ResetCount,
        ControllerName = ControllerName ?? Controller.Address,
        ControllerId = Controller.Transport is NativeBdev.Nvme.Tcp.NvmeTcpTransport tcp ? tcp.ControllerId : 0,
        Trid = Controller.Transport is NativeBdev.Nvme.Tcp.NvmeTcpTransport t
            ? ("TCP", t.Options.Endpoint.Text[..t.Options.Endpoint.Text.LastIndexOf(':')].Trim('[', ']'),
                t.Options.Endpoint.Text[(t.Options.Endpoint.Text.LastIndexOf(':') + 1)..], t.Options.SubNqn,
                t.Options.Endpoint.Family == Interop.SocketAbi.AF_INET6 ? "IPv6" : "IPv4", t.Options.HostNqn)
            : ("PCIe", Controller.Address, "", "", "", ""),
    };

    public int ResetController(string reason) => Controller.RequestReset(reason, null);
}
