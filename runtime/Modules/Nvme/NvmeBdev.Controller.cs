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
    };

    public int ResetController(string reason) => Controller.RequestReset(reason, null);
}
