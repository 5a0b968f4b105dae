using System;

namespace NativeBdev.Nvme;

/// <summary>An NVMe transport (SPDK's spdk_nvme_transport_ops): how the transport-neutral
/// controller reaches its controller's properties and queues. PCIe maps registers and
/// doorbells and describes data with PRPs; a fabrics transport (NVMe/TCP) sends Property
/// Get/Set and Connect capsules and carries data in its PDUs. Everything else — bring-up,
/// identify, namespaces, asynchronous events, timeouts and aborts, resets, shutdown,
/// passthrough — lives once, in <see cref="NvmeController"/>.</summary>
internal interface INvmeTransport : IDisposable
{
    /// <summary>"pcie", "tcp".</summary>
    string Name { get; }
    /// <summary>The controller's address in the transport's terms (a PCI BDF, host:port/nqn).</summary>
    string Address { get; }
    /// <summary>How it is reached ("vfio", "uio", "sim"; "tcp").</summary>
    string Mode { get; }

    /// <summary>Property access. The controller's state machine reads and writes each
    /// property in a step of its own, so a transport whose properties are a round trip
    /// away answers from its own state machine (0 = done, or -EAGAIN: ask again next poll).</summary>
    int GetProperty32(int offset, out uint value);
    int GetProperty64(int offset, out ulong value);
    int SetProperty32(int offset, uint value);
    int SetProperty64(int offset, ulong value);

    /// <summary>Lets the controller reach host memory (PCIe: bus mastering on).</summary>
    int StartDma();
    /// <summary>Cuts the controller off from host memory when it cannot be disabled.</summary>
    void StopDma();

    /// <summary>The rings (or connection) of queue <paramref name="qid"/> on this side.</summary>
    int CreateQueue(ushort qid, int entries, out NvmeTransportQueue? queue);

    /// <summary>Makes the admin queue the controller's (PCIe: AQA, ASQ, ACQ) before it is enabled.</summary>
    int ConfigureAdminQueue(NvmeTransportQueue admin);

    /// <summary>Makes an I/O queue the controller's: PCIe asks the controller with Create I/O
    /// Completion/Submission Queue on the admin queue; a fabric connects it. Asynchronous:
    /// <paramref name="done"/> runs on the admin poll with 0 or -errno.</summary>
    void ConnectIoQueue(NvmeAdminQueue admin, NvmeTransportQueue queue, Action<int> done);

    /// <summary>Sees the controller's identify data once read (a fabric reads its capsule
    /// sizes there); 0, or -errno to refuse the controller.</summary>
    int OnIdentify(ReadOnlySpan<byte> controllerData) => 0;

    /// <summary>How often the admin poll sends Keep Alive (a fabric: half the KATO it
    /// connected with); 0: never.</summary>
    int KeepAliveIntervalMs => 0;

    /// <summary>While the controller is being reconnected: new and waiting I/O fails at once
    /// (a fabric's fast_io_fail_timeout passed) rather than waiting for the connection.</summary>
    bool FailIoFast => false;

    /// <summary>The most I/O queues to ask the controller for.</summary>
    int IoQueueLimit => int.MaxValue;

    /// <summary>The most entries per I/O queue.</summary>
    int IoQueueEntriesLimit => int.MaxValue;

    /// <summary>The reverse of <see cref="ConnectIoQueue"/>; asynchronous as well.</summary>
    void DisconnectIoQueue(NvmeAdminQueue admin, NvmeTransportQueue queue, Action<int> done);
}
