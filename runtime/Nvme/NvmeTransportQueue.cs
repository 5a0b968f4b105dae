using System;

namespace NativeBdev.Nvme;

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
    public abstract int Process(NvmeCompletionSink sink, int max, bool ack = true);

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
