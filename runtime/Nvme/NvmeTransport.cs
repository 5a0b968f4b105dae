using System;
using NativeBdev.Interop;

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

    /// <summary>The reverse of <see cref="ConnectIoQueue"/>; asynchronous as well.</summary>
    void DisconnectIoQueue(NvmeAdminQueue admin, NvmeTransportQueue queue, Action<int> done);
}

/// <summary>Where a queue hands its completions: the command id and the request the
/// command was submitted for.</summary>
internal unsafe interface INvmeCompletionSink
{
    void Completed(ushort cid, void* request, in NvmeCompletion cpl);
}

/// <summary>What a command moves: nothing, a flat buffer, a range of an iovec list, or a
/// small payload (a deallocate range) the transport places in memory of its own.</summary>
internal unsafe struct NvmeData
{
    public Iovec* Iovs;
    public int IovCount;
    public ulong Start;
    public ulong Length;
    public byte* Buffer;
    public ulong* Inline;   // InlineLength bytes to carry (copied at submission)
    public int InlineLength;

    public static NvmeData None => default;

    public static NvmeData Flat(byte* p, ulong length) => new() { Buffer = p, Length = length };

    public static NvmeData Range(Iovec* iovs, int count, ulong start, ulong length) =>
        new() { Iovs = iovs, IovCount = count, Start = start, Length = length };
}

/// <summary>One queue of a transport: command slots (command id = slot), submission,
/// completion and the doorbell, and what the driver needs for timeouts and resets. Owned by
/// one thread (an I/O queue) or the admin poll (the admin queue): no locks.</summary>
internal abstract unsafe class NvmeTransportQueue : IDisposable
{
    public readonly ushort Id;
    public readonly int Entries;

    protected NvmeTransportQueue(ushort id, int entries)
    {
        Id = id;
        Entries = entries;
    }

    /// <summary>Commands submitted and not completed.</summary>
    public abstract int Outstanding { get; }
    /// <summary>Whether a command can be submitted now.</summary>
    public abstract bool HasFreeSlot { get; }
    /// <summary>Command slots: Outstanding never exceeds it.</summary>
    public abstract int Slots { get; }

    /// <summary>Places a command (its cid and data pointer filled in here) for
    /// <paramref name="request"/>; seen by the controller at the next
    /// <see cref="RingSubmissions"/>. 0, -EAGAIN (no free slot) or -EINVAL (the data cannot
    /// be described: not DMA memory, too many segments).</summary>
    public abstract int Submit(ref NvmeCommand cmd, void* request, in NvmeData data, long now);

    /// <summary>Tells the controller about everything submitted since the last call.</summary>
    public abstract void RingSubmissions();

    /// <summary>Hands up to <paramref name="max"/> completions to <paramref name="sink"/>
    /// (their slots are free again when it is called); tells the controller what was
    /// consumed unless <paramref name="ack"/> is false (a disabled controller). Returns how
    /// many.</summary>
    public abstract int Process(INvmeCompletionSink sink, int max, bool ack = true);

    /// <summary>The command in slot <paramref name="cid"/>, if one is in flight.</summary>
    public abstract bool InFlight(int cid, out void* request, out long submitTicks, out long abortTicks);

    /// <summary>Records that an Abort was sent for the command in <paramref name="cid"/>.</summary>
    public abstract void MarkAborting(int cid, long now);

    /// <summary>Frees a slot whose command the controller will never complete (after it
    /// was disabled): the request goes back to the driver.</summary>
    public abstract void Release(int cid);

    /// <summary>Back to an empty queue, every slot free: only while the controller does
    /// not own it (before creation, after a disable).</summary>
    public abstract void Reset();

    /// <summary>Completions whose command id named no command in flight (a device bug).</summary>
    public long SpuriousCompletions;

    public abstract void Dispose();
}
