using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Nvme;

namespace NativeBdev.Targets.Nvmf;

/// <summary>A controller a host made with an admin Connect (the dynamic controller model):
/// its registers (CC, CSTS), features, keep-alive, asynchronous events and its queues, one
/// connection each. It ends with its admin connection, or when its keep-alive runs out.</summary>
internal sealed class NvmfController
{
    public const int MaxAsyncEvents = 4;   // AERL + 1
    public const int ChangedListEntries = 1024;

    private readonly List<uint> _changed = new();
    private readonly Queue<int> _aers = new();
    private bool _noticePending;
    private bool _noticeMasked;

    public NvmfController(NvmfSubsystem subsystem, ushort cntlid, string hostNqn, Guid hostId, uint katoMs,
        NvmfConnection admin, int maxIoQueues)
    {
        Subsystem = subsystem;
        Cntlid = cntlid;
        HostNqn = hostNqn;
        HostId = hostId;
        KatoMs = katoMs;
        Admin = admin;
        IoQueues = new NvmfConnection?[maxIoQueues];
        GrantedIoQueues = maxIoQueues;
        Touch();
    }

    public NvmfSubsystem Subsystem { get; }
    public ushort Cntlid { get; }
    public string HostNqn { get; }
    public Guid HostId { get; }
    public NvmfConnection Admin { get; }

    /// <summary>I/O queue pairs by QID - 1.</summary>
    public NvmfConnection?[] IoQueues { get; }

    public uint KatoMs { get; set; }
    public uint Cc { get; private set; }
    public uint Csts { get; private set; }
    public uint AsyncEventConfig { get; set; }
    public bool WriteCache { get; set; } = true;

    /// <summary>I/O queues the host may connect (Set Features Number of Queues lowers it).</summary>
    public int GrantedIoQueues { get; set; }

    public long LastActivity { get; private set; }

    public bool Enabled => (Csts & NvmeSpec.CstsReady) != 0;

    /// <summary>Any of its queues' threads (a 64-bit store: the keep-alive check on the
    /// target's thread reads it whole).</summary>
    public void Touch() => LastActivity = Ticks.Now;

    public bool KeepAliveExpired(long now) =>
        KatoMs != 0 && now - LastActivity > Ticks.FromMicroseconds((long)KatoMs * 1000);

    /// <summary>A Property Set of CC: enabling makes the controller ready at once (nothing to
    /// bring up); disabling resets it (its I/O queues go); a shutdown completes at once.
    /// False when CC asks for queue entry sizes other than 64 and 16 bytes.</summary>
    public bool SetCc(uint value)
    {
        bool wasEnabled = (Cc & NvmeSpec.CcEnable) != 0;
        bool enable = (value & NvmeSpec.CcEnable) != 0;
        if (enable && !wasEnabled && (((value >> 16) & 0xF) != 6 || ((value >> 20) & 0xF) != 4))
        {
            Csts |= NvmeSpec.CstsFatal;
            return false;
        }
        Cc = value;
        if (enable)
        {
            Csts |= NvmeSpec.CstsReady;
        }
        else if (wasEnabled)
        {
            Csts &= ~(NvmeSpec.CstsReady | NvmeSpec.CstsShstMask);
            DropIoQueues("the host disabled the controller (CC.EN = 0)");
        }
        if ((value & NvmeSpec.CcShnMask) != 0)
        {
            Csts = (Csts & ~NvmeSpec.CstsShstMask) | NvmeSpec.CstsShstComplete;
        }
        return true;
    }

    /// <summary>On the target's thread; each I/O queue closes on its poll group's thread.</summary>
    public void DropIoQueues(string reason)
    {
        for (int i = 0; i < IoQueues.Length; i++)
        {
            IoQueues[i]?.CloseAnywhere(reason);
            IoQueues[i] = null;
        }
    }

    // ------------------------------------------------------------------ asynchronous events

    /// <summary>An Asynchronous Event Request waits in the admin connection's slot; false
    /// when <see cref="MaxAsyncEvents"/> already wait (the limit the host was told).</summary>
    public bool QueueAer(int slot)
    {
        if (_aers.Count >= MaxAsyncEvents)
        {
            return false;
        }
        _aers.Enqueue(slot);
        DeliverNotice();
        return true;
    }

    /// <summary>Slots of the AERs still waiting (the admin connection ends them at close).</summary>
    public IEnumerable<int> WaitingAers => _aers;

    /// <summary>A namespace appeared, went or changed size: listed in log page 04h and, when
    /// the host asked for namespace attribute notices, reported by an AER.</summary>
    public void NamespaceChanged(uint nsid)
    {
        if (!_changed.Contains(nsid))
        {
            _changed.Add(nsid); // more than 1024 reads as 0xFFFFFFFF in the log
        }
        if ((AsyncEventConfig & NvmeSpec.AsyncEventNamespaceAttribute) != 0)
        {
            _noticePending = true;
            DeliverNotice();
        }
    }

    private void DeliverNotice()
    {
        if (!_noticePending || _noticeMasked || _aers.Count == 0)
        {
            return;
        }
        _noticePending = false;
        _noticeMasked = true; // until the host reads log page 04h
        int slot = _aers.Dequeue();
        uint dw0 = (uint)NvmeSpec.AsyncEventTypeNotice | (uint)NvmeSpec.AsyncEventNoticeNamespaceChanged << 8 |
            (uint)NvmeSpec.LogChangedNamespaces << 16;
        Admin.CompleteAer(slot, dw0);
    }

    /// <summary>Log page 04h: the changed NSIDs (cleared unless the host retains them, which
    /// also keeps the notice masked).</summary>
    public void ReadChangedNamespaces(Span<byte> page, bool retain)
    {
        page.Clear();
        if (_changed.Count > ChangedListEntries)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(page, 0xFFFFFFFF);
        }
        else
        {
            for (int i = 0; i < _changed.Count && (i + 1) * 4 <= page.Length; i++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(page[(i * 4)..], _changed[i]);
            }
        }
        if (!retain)
        {
            _changed.Clear();
            _noticeMasked = false;
            DeliverNotice();
        }
    }
}
