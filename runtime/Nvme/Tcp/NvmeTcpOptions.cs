using System;
using NativeBdev.Net;

namespace NativeBdev.Nvme.Tcp;

/// <summary>How to reach one NVMe/TCP controller and what to ask of it (the nvmf:// URI's
/// parameters; SPDK's spdk_nvme_ctrlr_opts and transport id).</summary>
internal sealed class NvmeTcpOptions
{
    public required NetEndpoint Endpoint;
    public required string SubNqn;
    public string HostNqn = DefaultHostNqn;
    public Guid HostId = DefaultHostId;
    public bool HeaderDigest;
    public bool DataDigest;
    /// <summary>Keep-alive timeout sent in the admin Connect (KATO); Keep Alive goes every half.</summary>
    public uint KeepAliveMs = 10_000;
    /// <summary>The most I/O queues (one per thread using the controller).</summary>
    public int MaxIoQueues = 63;
    /// <summary>Commands in flight per I/O queue (the queue has one entry more).</summary>
    public int IoQueueDepth = 128;
    public int ConnectTimeoutMs = 10_000;
    /// <summary>Between reconnect attempts after a lost association.</summary>
    public int ReconnectDelayMs = 1000;
    /// <summary>How long reconnecting goes on before the controller is given up (0: one
    /// attempt, as SPDK's default).</summary>
    public int CtrlrLossTimeoutMs;
    /// <summary>After this long without a connection new I/O fails at once (0: never: it
    /// waits until the controller is back or given up).</summary>
    public int FastIoFailTimeoutMs;

    /// <summary>The registry key and the name in messages: HOST:PORT/SUBNQN.</summary>
    public string Address => $"{Endpoint}/{SubNqn}";

    /// <summary>A host identity of this process, as SPDK makes one when none is given: a
    /// random UUID and the NQN of the UUID form.</summary>
    public static readonly Guid DefaultHostId = Guid.NewGuid();
    public static readonly string DefaultHostNqn = "nqn.2014-08.org.nvmexpress:uuid:" + DefaultHostId;
}
