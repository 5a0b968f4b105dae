using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;

namespace NativeBdev.Modules.Nvme;

/// <summary>One namespace of a user-space NVMe controller. Holds a reference on the
/// controller: the last namespace bdev to go detaches it.</summary>
internal sealed unsafe partial class NvmeBdev : Bdev.Bdev
{
    public readonly NvmeController Controller;
    public readonly uint Nsid;
    /// <summary>SPDK's controller name, when the bdev was attached under one (ctrlr_name=).</summary>
    public string? ControllerName { get; init; }
    /// <summary>The controller's per-thread queue pairs, shared with its other namespaces.</summary>
    internal readonly NvmeQpairDevice QpairDevice;
    private bool _deviceResize;

    public NvmeBdev(string name, NvmeController controller, NvmeNamespaceInfo ns)
        : base(name, "nvme", ns.BlockSize, ns.BlockCount)
    {
        Controller = controller;
        Nsid = ns.Nsid;
        if (ns.Uuid != Guid.Empty)
        {
            Uuid = ns.Uuid;
        }
        ProductName = controller.Model;
        WriteCache = controller.VolatileWriteCache;
        if (controller.Transport.Name == "pcie")
        {
            RequiredAlignment = 4;   // PRP entries are dword aligned
            NeedsDmaBuffers = true;  // the controller reads and writes host memory itself
        }
        QpairDevice = NvmeQpairDevice.Acquire(controller);
        controller.NamespaceChanged += OnNamespaceChanged;
        controller.ControllerFailed += OnControllerFailed;
    }

    /// <summary>A failed controller retires its namespaces (NB_BDEV_EVENT_FAILED): their I/O
    /// fails at once until a reset brings the controller back and the host clears them.</summary>
    private void OnControllerFailed(string reason) =>
        DeviceMonitor.Retire(this, $"NVMe controller {Controller.Address} failed: {reason}");

    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read or BdevIoType.Write or BdevIoType.Flush or BdevIoType.Reset => true,
        BdevIoType.NvmeAdmin or BdevIoType.NvmeIo => true,
        BdevIoType.WriteZeroes => (Controller.Oncs & NvmeSpec.OncsWriteZeroes) != 0,
        BdevIoType.Unmap => (Controller.Oncs & NvmeSpec.OncsDatasetManagement) != 0,
        _ => false,
    };

    /// <summary>Passthrough commands the driver cannot let through: they would take the
    /// queues or the event slots it manages out from under it.</summary>
    public override int CheckPassthru(BdevIoType type, byte* cmd, ulong nbytes)
    {
        byte opcode = cmd[0];
        if (type == BdevIoType.NvmeAdmin && opcode is NvmeSpec.AdminCreateIoSq or NvmeSpec.AdminCreateIoCq or
            NvmeSpec.AdminDeleteIoSq or NvmeSpec.AdminDeleteIoCq or NvmeSpec.AdminAsyncEventRequest)
        {
            return LastError.Set(Errno.EPERM,
                $"admin opcode 0x{opcode:x2} manages queues or events the driver owns: not allowed as passthrough");
        }
        if (type == BdevIoType.NvmeAdmin && opcode == AdminDoorbellBufferConfig)
        {
            return LastError.Set(Errno.EPERM,
                "admin opcode 0x7c (doorbell buffer config) would move the doorbells the driver writes: " +
                "not allowed as passthrough");
        }
        if ((cmd[1] & 0xC0) != 0 || (cmd[1] & 0x03) != 0)
        {
            return LastError.Set(Errno.EINVAL,
                "passthrough commands must use PRPs and no fused operation (flags 0): " +
                "the driver builds the data pointer");
        }
        if (nbytes > Controller.MaxTransferBytes)
        {
            return LastError.Set(Errno.EINVAL,
                $"passthrough data of {nbytes} bytes exceeds the controller's maximum transfer (" +
                $"{Controller.MaxTransferBytes} bytes)");
        }
        ulong need = ImpliedTransfer(type, cmd);
        if (nbytes < need)
        {
            return LastError.Set(Errno.EINVAL,
                $"{(type == BdevIoType.NvmeAdmin ? "admin" : "I/O")} opcode 0x{opcode:x2} transfers {need}" +
                $" bytes; the buffer has {nbytes}");
        }
        return 0;
    }

    private const byte AdminDoorbellBufferConfig = 0x7C;

    /// <summary>The bytes a command moves, as far as the driver can tell: the device would
    /// otherwise run past a short buffer into whatever memory follows (or, with no buffer,
    /// to address 0). Commands whose data is optional (get/set features) or unknown to the
    /// driver: 0, or 1 when the opcode's direction bits say data moves.</summary>
    private ulong ImpliedTransfer(BdevIoType type, byte* cmd)
    {
        byte opcode = cmd[0];
        uint cdw10 = *(uint*)(cmd + 40), cdw11 = *(uint*)(cmd + 44), cdw12 = *(uint*)(cmd + 48);
        if (type == BdevIoType.NvmeAdmin)
        {
            return opcode switch
            {
                NvmeSpec.AdminIdentify => NvmeSpec.PageSize,
                NvmeSpec.AdminGetLogPage => (((ulong)(cdw11 & 0xFFFF) << 16 | cdw10 >> 16) + 1) * 4,
                NvmeSpec.AdminGetFeatures or NvmeSpec.AdminSetFeatures => 0,
                _ => NvmeSpec.DataDirection(opcode) != 0 ? 1UL : 0,
            };
        }
        return opcode switch
        {
            NvmeSpec.IoRead or NvmeSpec.IoWrite or IoCompare => ((cdw12 & 0xFFFF) + 1UL) * BlockSize,
            NvmeSpec.IoDatasetManagement => ((cdw10 & 0xFF) + 1UL) * 16,
            _ => NvmeSpec.DataDirection(opcode) != 0 ? 1UL : 0,
        };
    }

    private const byte IoCompare = 0x05;

    public override string DescribeDriver() =>
        $"traddr={Controller.Address} nsid={Nsid} mode={Controller.Mode} model=\"{Controller.Model}\" " +
        $"serial=\"{Controller.Serial}\" firmware=\"{Controller.Firmware}\" state={Controller.StateName}";

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        var ch = new NvmeChannel(this, channel);
        return ch.Init() == 0 ? ch : null;
    }

    /// <summary>Only the device changes a namespace's size (an asynchronous event).</summary>
    protected override int ResizeBackend(ulong newBlockCount) => _deviceResize ? 0
        : LastError.Set(Errno.ENOTSUP,
            $"bdev '{Name}' is an NVMe namespace: its size is the controller's (resize the namespace on the device)");

    private void OnNamespaceChanged(NvmeNamespaceInfo ns)
    {
        if (ns.Nsid != Nsid)
        {
            return;
        }
        if (ns.BlockCount == 0)
        {
            // Hot remove (REMOVE to every descriptor), away from the admin thread: the last
            // namespace gone detaches the controller, which stops that thread.
            Log.Warn($"bdev '{Name}': namespace {Nsid} of {Controller.Address} is gone: removing the bdev");
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(static b => BdevRegistry.Destroy(b.Name, null), this,
                preferLocal: false);
            return;
        }
        if (ns.BlockSize != BlockSize)
        {
            return;
        }
        _deviceResize = true;
        if (Resize(ns.BlockCount) != 0)
        {
            Log.Error($"bdev '{Name}': namespace resize to {ns.BlockCount} blocks not applied: {LastError.Message}");
        }
        _deviceResize = false;
    }

    /// <summary>Stops listening to the controller (destruct, or a bdev never registered).</summary>
    internal void Unsubscribe()
    {
        QpairDevice.Release();
        Controller.NamespaceChanged -= OnNamespaceChanged;
        Controller.ControllerFailed -= OnControllerFailed;
    }

    public override void Destruct()
    {
        Unsubscribe();
        Controller.Release();
    }
}
