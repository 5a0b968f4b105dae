using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme.Pcie;

namespace NativeBdev.Nvme;

internal enum NvmeControllerState
{
    Initializing = 0,
    Ready = 1,
    Resetting = 2,
    Failed = 3,
    Detached = 4,
}

/// <summary>An active namespace as identify reports it.</summary>
internal readonly record struct NvmeNamespaceInfo(uint Nsid, uint BlockSize, ulong BlockCount, Guid Uuid);

/// <summary>What an I/O queue's owner (a channel, on its own thread) does when the
/// controller resets: reclaim the commands the disabled controller will never complete.</summary>
internal interface INvmeQueueOwner
{
    NvmeQueuePair Queue { get; }
    /// <summary>Set by the admin thread once the queue exists on the controller.</summary>
    bool Connected { get; set; }
    /// <summary>The reset generation the owner has reclaimed its commands for, or
    /// int.MaxValue once it is gone (a reset never waits for it).</summary>
    int AckedGeneration { get; }
}

/// <summary>One NVMe controller owned from user space: bring-up, the admin queue, I/O
/// queue creation and deletion, resets and shutdown. Only the controller's admin thread
/// (an OS thread, not a reactor) touches the admin queue after bring-up: channels ask it
/// for queues, aborts and resets through <see cref="_requests"/>, so no reactor ever blocks
/// on an admin command and the admin queue needs no lock.</summary>
internal sealed unsafe class NvmeController
{
    public const int AdminQueueEntries = 32;
    public const int MaxIoQueueEntries = 256;
    private const int ResetAckTimeoutMs = 10_000;
    /// <summary>How often the admin thread looks at CSTS and the admin completion queue
    /// when nothing wakes it (SPDK polls admin queues every 10 ms too).</summary>
    private const int AdminPollMs = 10;

    public readonly PciFunction Function;
    public string Address => Function.Address;
    private readonly byte* _bar;

    public ulong Cap { get; private set; }
    public uint Version { get; private set; }
    public int DoorbellStride { get; private set; }
    public int ReadyTimeoutMs { get; private set; }
    public int IoQueueEntries { get; private set; }
    public int MaxIoQueues { get; private set; }
    public string Model { get; private set; } = "";
    public string Serial { get; private set; } = "";
    public string Firmware { get; private set; } = "";
    /// <summary>Largest transfer of one command in bytes (MDTS), capped at what one PRP
    /// list page describes.</summary>
    public uint MaxTransferBytes { get; private set; }
    public uint NamespaceCount { get; private set; }
    public ushort Oncs { get; private set; }
    public bool VolatileWriteCache { get; private set; }
    public long CommandTimeoutTicks { get; }
    public long ResetCount => Volatile.Read(ref _resetCount);

    private int _state;
    public NvmeControllerState State => (NvmeControllerState)Volatile.Read(ref _state);
    private int _generation;
    /// <summary>Bumped when the controller is disabled for a reset: every queue owner
    /// reclaims its commands and acknowledges the new value.</summary>
    public int Generation => Volatile.Read(ref _generation);

    private NvmeQueuePair? _admin;
    private byte* _identifyBuffer; // one page of DMA memory for identify and log pages
    private NvmeTracker* _aerTracker;
    private int _aerPending; // an AER completed with a notice to handle
    private bool _aerRefused;
    private uint _aerResult;
    private readonly Dictionary<uint, NvmeNamespaceInfo> _namespaces = new();
    private readonly List<INvmeQueueOwner> _owners = new();
    private readonly ConcurrentQueue<AdminRequest> _requests = new();
    private readonly AutoResetEvent _wake = new(false);
    private bool[] _qidUsed = Array.Empty<bool>();
    private Thread? _thread;
    private volatile bool _stop;
    private int _resetRequested;
    private long _resetCount;
    private int _refs;

    /// <summary>Called on the admin thread when a namespace's size changed (AER); a block
    /// count of 0: the namespace is no longer active.</summary>
    public Action<NvmeNamespaceInfo>? NamespaceChanged;
    /// <summary>Called on the admin thread when the controller is given up (with why).</summary>
    public Action<string>? ControllerFailed;

    private NvmeController(PciFunction function, long commandTimeoutMs)
    {
        Function = function;
        _bar = function.Bar0;
        CommandTimeoutTicks = Ticks.FromMicroseconds(commandTimeoutMs * 1000);
    }

    // ------------------------------------------------------------------ registry

    private static readonly Dictionary<string, NvmeController> s_controllers = new();
    private static readonly object s_lock = new();

    /// <summary>The attached controller at <paramref name="address"/>, attaching it (open
    /// the function, bring it up, start its admin thread) on first use. Each call takes a
    /// reference that <see cref="Release"/> returns.</summary>
    public static int Attach(string address, string mode, long commandTimeoutMs, out NvmeController? controller)
    {
        lock (s_lock)
        {
            if (s_controllers.TryGetValue(address, out controller))
            {
                if (mode != "auto" && controller.Function.Mode != mode)
                {
                    controller = null;
                    return LastError.Set(Errno.EBUSY, $"NVMe controller {address} is attached through {s_controllers[address].Function.Mode}, not {mode}");
                }
                controller._refs++;
                return 0;
            }
            int rc = PciFunction.Open(address, mode, out PciFunction? function);
            if (rc != 0)
            {
                return rc;
            }
            var c = new NvmeController(function!, commandTimeoutMs);
            if ((rc = c.Initialize()) != 0)
            {
                c.FreeResources();
                function!.Dispose();
                return rc;
            }
            c._refs = 1;
            c._thread = new Thread(c.AdminThread) { IsBackground = true, Name = "nvme-admin " + address };
            c._thread.Start();
            s_controllers[address] = c;
            controller = c;
            return 0;
        }
    }

    public void AddRef()
    {
        lock (s_lock)
        {
            _refs++;
        }
    }

    public static NvmeController? Find(string address)
    {
        lock (s_lock)
        {
            return s_controllers.GetValueOrDefault(address);
        }
    }

    /// <summary>Drops a reference; the last one detaches: the admin thread stops, the
    /// controller is shut down (CC.SHN) and the function is closed.</summary>
    public void Release()
    {
        lock (s_lock)
        {
            if (--_refs > 0)
            {
                return;
            }
            s_controllers.Remove(Address);
        }
        Detach();
    }

    // ------------------------------------------------------------------ registers

    private uint Read32(int offset) => Volatile.Read(ref *(uint*)(_bar + offset));
    private void Write32(int offset, uint value) => Volatile.Write(ref *(uint*)(_bar + offset), value);
    private ulong Read64(int offset) => Read32(offset) | ((ulong)Read32(offset + 4) << 32);

    private void Write64(int offset, ulong value)
    {
        Write32(offset, (uint)value);
        Write32(offset + 4, (uint)(value >> 32));
    }

    public uint Csts => Read32(NvmeSpec.RegCsts);

    /// <summary>Waits until (CSTS &amp; mask) == want, within CAP.TO. False on timeout or
    /// when the device stops answering (all ones: surprise removal).</summary>
    private bool WaitStatus(uint mask, uint want, int timeoutMs)
    {
        long deadline = Ticks.Now + Ticks.FromMicroseconds((long)timeoutMs * 1000);
        int spins = 0;
        while (true)
        {
            uint csts = Csts;
            if (csts == uint.MaxValue)
            {
                return false;
            }
            if ((csts & mask) == want)
            {
                return true;
            }
            if (Ticks.Now > deadline)
            {
                return false;
            }
            if (++spins > 100)
            {
                Thread.Sleep(1);
            }
        }
    }

    // ------------------------------------------------------------------ bring-up

    private int Initialize()
    {
        int rc = Function.EnableBusMaster();
        if (rc != 0)
        {
            return rc;
        }
        Cap = Read64(NvmeSpec.RegCap);
        if (Cap == ulong.MaxValue)
        {
            return LastError.Set(Errno.EIO, $"NVMe controller {Address} does not respond (CAP reads all ones)");
        }
        Version = Read32(NvmeSpec.RegVs);
        DoorbellStride = (int)((Cap >> 32) & 0xF);
        ReadyTimeoutMs = Math.Max(500, (int)((Cap >> 24) & 0xFF) * 500);
        int mqes = (int)(Cap & 0xFFFF) + 1;
        if (((Cap >> 48) & 0xF) != 0)
        {
            return LastError.Set(Errno.ENOTSUP, $"NVMe controller {Address}: its smallest memory page is {4096 << (int)((Cap >> 48) & 0xF)} bytes; only 4 KiB pages are supported");
        }
        if (((Cap >> 37) & 1) == 0)
        {
            return LastError.Set(Errno.ENOTSUP, $"NVMe controller {Address} does not support the NVM command set");
        }
        IoQueueEntries = Math.Min(mqes, MaxIoQueueEntries);
        DmaPool? pool = NbEnvironment.Dma;
        if (pool == null)
        {
            return NbEnvironment.NotInitialized();
        }
        _identifyBuffer = (byte*)pool.Alloc(NvmeSpec.PageSize, NvmeSpec.PageSize, zero: true);
        if (_identifyBuffer == null)
        {
            return LastError.Set(Errno.ENOMEM, "no DMA memory for the identify buffer");
        }
        if ((rc = NvmeQueuePair.Create(0, AdminQueueEntries, _bar, DoorbellStride, out _admin)) != 0)
        {
            return rc;
        }
        if ((rc = Enable()) != 0 || (rc = IdentifyController()) != 0 || (rc = ConfigureQueuesAndEvents()) != 0 ||
            (rc = ScanNamespaces()) != 0)
        {
            Disable();
            return rc;
        }
        SubmitAsyncEventRequest();
        Volatile.Write(ref _state, (int)NvmeControllerState.Ready);
        Log.Notice($"nvme {Address}: '{Model}' serial '{Serial}' firmware '{Firmware}', {_namespaces.Count} namespace(s), " +
            $"{MaxIoQueues} I/O queues of {IoQueueEntries} entries, max transfer {MaxTransferBytes / 1024} KiB, via {Function.Mode}");
        return 0;
    }

    /// <summary>CC.EN = 0 and wait for CSTS.RDY = 0 (the controller drops every queue).</summary>
    private bool Disable()
    {
        uint cc = Read32(NvmeSpec.RegCc);
        if ((cc & NvmeSpec.CcEnable) != 0)
        {
            if ((Csts & NvmeSpec.CstsReady) == 0)
            {
                // Still becoming ready (a previous owner enabled it): clearing EN now is
                // undefined until RDY is 1 (SPDK waits the same way).
                WaitStatus(NvmeSpec.CstsReady | NvmeSpec.CstsFatal, NvmeSpec.CstsReady, ReadyTimeoutMs);
            }
            Write32(NvmeSpec.RegCc, cc & ~NvmeSpec.CcEnable);
        }
        return WaitStatus(NvmeSpec.CstsReady, 0, ReadyTimeoutMs);
    }

    /// <summary>The controller is stopped from touching host memory: disabled, or, when it
    /// does not disable, cut off from the bus (bus mastering off). Before memory it may still
    /// write is reused or I/O it may still do is reported failed.</summary>
    private void StopDma()
    {
        bool enabled = (Read32(NvmeSpec.RegCc) & NvmeSpec.CcEnable) != 0 || (Csts & NvmeSpec.CstsReady) != 0;
        if (enabled && !Disable())
        {
            Log.Error($"nvme {Address}: the controller does not disable: bus mastering turned off");
            Function.DisableBusMaster();
        }
    }

    /// <summary>Disable, program the admin queue, enable and wait for ready.</summary>
    private int Enable()
    {
        int rc = Function.EnableBusMaster(); // again: a failed controller may have lost it
        if (rc != 0)
        {
            return rc;
        }
        if (!Disable())
        {
            return LastError.Set(Errno.ETIMEDOUT, $"NVMe controller {Address} did not clear CSTS.RDY within {ReadyTimeoutMs} ms (CAP.TO) after CC.EN=0 (CSTS 0x{Csts:x})");
        }
        _admin!.Reset();
        Write32(NvmeSpec.RegAqa, (uint)((AdminQueueEntries - 1) << 16 | (AdminQueueEntries - 1)));
        Write64(NvmeSpec.RegAsq, _admin.SqIova);
        Write64(NvmeSpec.RegAcq, _admin.CqIova);
        Write32(NvmeSpec.RegCc, NvmeSpec.CcEnable | NvmeSpec.CcIosqes | NvmeSpec.CcIocqes);
        if (!WaitStatus(NvmeSpec.CstsReady | NvmeSpec.CstsFatal, NvmeSpec.CstsReady, ReadyTimeoutMs))
        {
            uint csts = Csts;
            return LastError.Set(Errno.ETIMEDOUT, (csts & NvmeSpec.CstsFatal) != 0 && csts != uint.MaxValue
                ? $"NVMe controller {Address} reported a fatal status (CSTS.CFS) while enabling"
                : $"NVMe controller {Address} did not become ready within {ReadyTimeoutMs} ms (CAP.TO) after CC.EN=1 (CSTS 0x{csts:x})");
        }
        _aerTracker = null;
        _aerRefused = false;
        return 0;
    }

    private static string Text(byte* p, int len) => Encoding.ASCII.GetString(p, len).TrimEnd(' ', '\0');

    private int IdentifyController()
    {
        var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminIdentify, Cdw10 = NvmeSpec.CnsController };
        int rc = Execute(ref cmd, _identifyBuffer, NvmeSpec.PageSize, out _);
        if (rc != 0)
        {
            return rc;
        }
        byte* id = _identifyBuffer;
        Serial = Text(id + NvmeSpec.IdCtrlSerial, 20);
        Model = Text(id + NvmeSpec.IdCtrlModel, 40);
        Firmware = Text(id + NvmeSpec.IdCtrlFirmware, 8);
        int mdts = id[NvmeSpec.IdCtrlMdts];
        // One PRP list page holds 512 entries: with the first entry, at least 2 MiB.
        uint cap = 2u << 20;
        MaxTransferBytes = mdts == 0 || mdts > 9 ? cap : Math.Min(cap, (uint)NvmeSpec.PageSize << mdts);
        NamespaceCount = *(uint*)(id + NvmeSpec.IdCtrlNn);
        Oncs = *(ushort*)(id + NvmeSpec.IdCtrlOncs);
        VolatileWriteCache = (id[NvmeSpec.IdCtrlVwc] & 1) != 0;
        if ((id[NvmeSpec.IdCtrlSqes] & 0xF) > 6 || (id[NvmeSpec.IdCtrlCqes] & 0xF) > 4)
        {
            return LastError.Set(Errno.ENOTSUP, $"NVMe controller {Address} needs queue entries larger than 64/16 bytes");
        }
        return 0;
    }

    /// <summary>Number of queues (the controller may grant fewer) and the asynchronous
    /// events the driver handles: namespace attribute changes.</summary>
    private int ConfigureQueuesAndEvents()
    {
        const uint want = 63;
        var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminSetFeatures, Cdw10 = NvmeSpec.FeatureNumberOfQueues, Cdw11 = want | want << 16 };
        int rc = Execute(ref cmd, null, 0, out NvmeCompletion cpl);
        if (rc != 0)
        {
            return rc;
        }
        int granted = (int)Math.Min(cpl.Dw0 & 0xFFFF, cpl.Dw0 >> 16) + 1;
        MaxIoQueues = Math.Min(granted, (int)want + 1);
        lock (_owners)
        {
            if (_qidUsed.Length < MaxIoQueues + 1)
            {
                bool[] used = new bool[MaxIoQueues + 1];
                Array.Copy(_qidUsed, used, _qidUsed.Length);
                _qidUsed = used;
            }
        }
        cmd = new NvmeCommand { Opcode = NvmeSpec.AdminSetFeatures, Cdw10 = NvmeSpec.FeatureAsyncEventConfig, Cdw11 = NvmeSpec.AsyncEventNamespaceAttribute };
        if (Execute(ref cmd, null, 0, out cpl) != 0)
        {
            Log.Info($"nvme {Address}: namespace attribute events not enabled ({LastError.Message})");
        }
        return 0;
    }

    private int ScanNamespaces()
    {
        int rc = ReadActiveNamespaces(out Dictionary<uint, NvmeNamespaceInfo>? found);
        if (rc != 0)
        {
            return rc;
        }
        lock (_namespaces)
        {
            _namespaces.Clear();
            foreach (var kv in found!)
            {
                _namespaces[kv.Key] = kv.Value;
            }
        }
        return 0;
    }

    /// <summary>The active namespaces the driver can use, identified.</summary>
    private int ReadActiveNamespaces(out Dictionary<uint, NvmeNamespaceInfo>? result)
    {
        result = null;
        var ids = new List<uint>();
        var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminIdentify, Cdw10 = NvmeSpec.CnsActiveNamespaces };
        if (Execute(ref cmd, _identifyBuffer, NvmeSpec.PageSize, out _) == 0)
        {
            uint* list = (uint*)_identifyBuffer;
            for (int i = 0; i < 1024 && list[i] != 0; i++)
            {
                ids.Add(list[i]);
            }
        }
        else
        {
            for (uint n = 1; n <= Math.Min(NamespaceCount, 1024u); n++)
            {
                ids.Add(n);
            }
        }
        var found = new Dictionary<uint, NvmeNamespaceInfo>();
        foreach (uint nsid in ids)
        {
            int rc = IdentifyNamespace(nsid, out NvmeNamespaceInfo info);
            if (rc < 0)
            {
                return rc;
            }
            if (rc > 0)
            {
                found[nsid] = info;
            }
        }
        result = found;
        return 0;
    }

    /// <summary>1 and the namespace, 0 when it is inactive or unusable, or -errno.</summary>
    private int IdentifyNamespace(uint nsid, out NvmeNamespaceInfo info)
    {
        info = default;
        var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminIdentify, Nsid = nsid, Cdw10 = NvmeSpec.CnsNamespace };
        int rc = Execute(ref cmd, _identifyBuffer, NvmeSpec.PageSize, out _);
        if (rc != 0)
        {
            return rc;
        }
        byte* id = _identifyBuffer;
        ulong size = *(ulong*)(id + NvmeSpec.IdNsSize);
        if (size == 0)
        {
            return 0;
        }
        byte flbas = id[NvmeSpec.IdNsFlbas];
        int format = (flbas & 0xF) | ((flbas >> 5) & 3) << 4;
        uint lbaf = *(uint*)(id + NvmeSpec.IdNsLbaf + 4 * format);
        int metadata = (int)(lbaf & 0xFFFF);
        int lbads = (int)((lbaf >> 16) & 0xFF);
        if (metadata != 0 || lbads < 9 || lbads > 16 || (1u << lbads) > MaxTransferBytes)
        {
            Log.Warn($"nvme {Address}: namespace {nsid} skipped: format with {1 << lbads}-byte blocks and {metadata} bytes of metadata is not supported");
            return 0;
        }
        var nguid = new ReadOnlySpan<byte>(id + NvmeSpec.IdNsNguid, 16);
        Guid uuid = nguid.IndexOfAnyExcept((byte)0) < 0 ? Guid.Empty : new Guid(nguid, bigEndian: true);
        info = new NvmeNamespaceInfo(nsid, 1u << lbads, size, uuid);
        return 1;
    }

    public bool TryGetNamespace(uint nsid, out NvmeNamespaceInfo info)
    {
        lock (_namespaces)
        {
            return _namespaces.TryGetValue(nsid, out info);
        }
    }

    public uint[] NamespaceIds()
    {
        lock (_namespaces)
        {
            var ids = new List<uint>(_namespaces.Keys);
            ids.Sort();
            return ids.ToArray();
        }
    }

    // ------------------------------------------------------------------ admin commands

    private struct AdminCompleter : INvmeCompletionHandler
    {
        public NvmeController Controller;
        public ushort WaitCid;
        public bool Done;
        public NvmeCompletion Result;

        public void Complete(NvmeTracker* t, in NvmeCompletion cpl)
        {
            NvmeController c = Controller;
            if (t == c._aerTracker)
            {
                c._aerTracker = null;
                if (cpl.Success)
                {
                    c._aerResult = cpl.Dw0;
                    c._aerPending = 1;
                }
                else if (cpl.Sct != NvmeSpec.SctGeneric || cpl.Sc != NvmeSpec.ScAbortedSqDeletion)
                {
                    // Not re-armed until the next reset: a controller that refuses them would
                    // otherwise be asked again every poll.
                    c._aerRefused = true;
                    Log.Info($"nvme {c.Address}: asynchronous event request failed: {NvmeSpec.StatusName(cpl.Sct, cpl.Sc)}; events off until a reset");
                }
            }
            else if (t->Cid == WaitCid)
            {
                Done = true;
                Result = cpl;
            }
            c._admin!.Free(t);
        }
    }

    /// <summary>Runs one admin command to completion (bring-up, or the admin thread).
    /// <paramref name="data"/>: DMA memory of at most 2 pages or a PRP list's worth, or
    /// null. Returns 0, -EIO with the status in the message, or -ETIMEDOUT.</summary>
    private int Execute(ref NvmeCommand cmd, void* data, int length, out NvmeCompletion cpl)
    {
        cpl = default;
        NvmeQueuePair q = _admin!;
        NvmeTracker* t = q.TryAllocate();
        if (t == null)
        {
            return LastError.Set(Errno.EBUSY, $"nvme {Address}: the admin queue is full");
        }
        if (data != null)
        {
            int rc = NvmePrp.Build(t, (byte*)data, length, ref cmd);
            if (rc != 0)
            {
                q.Free(t);
                return rc;
            }
        }
        fixed (NvmeCommand* c = &cmd)
        {
            q.Submit(t, c, Ticks.Now);
        }
        q.RingSubmissions();
        var done = new AdminCompleter { Controller = this, WaitCid = t->Cid };
        long timeout = CommandTimeoutTicks > 0 ? CommandTimeoutTicks : Ticks.Hz * 30;
        long deadline = Ticks.Now + timeout;
        int spins = 0;
        while (!done.Done)
        {
            q.Reap(ref done, 16);
            if (done.Done)
            {
                break;
            }
            if (Ticks.Now > deadline || Csts == uint.MaxValue)
            {
                return LastError.Set(Errno.ETIMEDOUT, $"nvme {Address}: admin command 0x{cmd.Opcode:x2} did not complete");
            }
            if (++spins > 200)
            {
                Thread.Sleep(0);
            }
        }
        cpl = done.Result;
        if (!cpl.Success)
        {
            return LastError.Set(Errno.EIO, $"nvme {Address}: admin command 0x{cmd.Opcode:x2} failed: {NvmeSpec.StatusName(cpl.Sct, cpl.Sc)}");
        }
        return 0;
    }

    private void SubmitAsyncEventRequest()
    {
        if (_aerTracker != null || _aerRefused)
        {
            return;
        }
        NvmeTracker* t = _admin!.TryAllocate();
        if (t == null)
        {
            return;
        }
        var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminAsyncEventRequest };
        _admin.Submit(t, &cmd, Ticks.Now);
        _admin.RingSubmissions();
        _aerTracker = t;
    }

    private int CreateIoQueue(NvmeQueuePair q)
    {
        // Physically contiguous (PC = 1), interrupts off: completions are polled.
        var cmd = new NvmeCommand
        {
            Opcode = NvmeSpec.AdminCreateIoCq, Prp1 = q.CqIova,
            Cdw10 = (uint)(q.Entries - 1) << 16 | q.Id, Cdw11 = 1,
        };
        int rc = Execute(ref cmd, null, 0, out _);
        if (rc != 0)
        {
            return rc;
        }
        cmd = new NvmeCommand
        {
            Opcode = NvmeSpec.AdminCreateIoSq, Prp1 = q.SqIova,
            Cdw10 = (uint)(q.Entries - 1) << 16 | q.Id, Cdw11 = (uint)q.Id << 16 | 1,
        };
        if ((rc = Execute(ref cmd, null, 0, out _)) != 0)
        {
            var del = new NvmeCommand { Opcode = NvmeSpec.AdminDeleteIoCq, Cdw10 = q.Id };
            Execute(ref del, null, 0, out _);
        }
        return rc;
    }

    private int DeleteIoQueue(NvmeQueuePair q)
    {
        var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminDeleteIoSq, Cdw10 = q.Id };
        int rc = Execute(ref cmd, null, 0, out _);
        if (rc == 0)
        {
            cmd = new NvmeCommand { Opcode = NvmeSpec.AdminDeleteIoCq, Cdw10 = q.Id };
            rc = Execute(ref cmd, null, 0, out _);
        }
        return rc;
    }

    // ------------------------------------------------------------------ requests from channels

    internal enum RequestKind
    {
        Connect,
        Disconnect,
        Abort,
        Reset,
        Passthru,
    }

    /// <summary>Work for the admin thread. Completion (when there is one) is posted back
    /// to the requester's thread by <see cref="Done"/>.</summary>
    internal sealed class AdminRequest
    {
        internal RequestKind Kind;
        internal INvmeQueueOwner? Owner;
        internal NvmeQueuePair? Queue;
        internal ushort Cid;
        internal NvmeCommand Command;
        internal nint Buffer;
        internal int Length;
        internal Action<AdminRequest>? Done;
        public int Status;
        public NvmeCompletion Completion;
    }

    private void Post(AdminRequest r)
    {
        _requests.Enqueue(r);
        _wake.Set();
    }

    /// <summary>Registers a queue owner and allocates its queue id; the admin thread
    /// creates the queue on the controller and then sets <see cref="INvmeQueueOwner.Connected"/>.</summary>
    public int AddQueueOwner(INvmeQueueOwner owner, out ushort qid)
    {
        qid = 0;
        lock (_owners)
        {
            for (int i = 1; i < _qidUsed.Length; i++)
            {
                if (!_qidUsed[i])
                {
                    _qidUsed[i] = true;
                    qid = (ushort)i;
                    break;
                }
            }
            if (qid == 0)
            {
                return LastError.Set(Errno.ENOMEM, $"nvme {Address}: all {MaxIoQueues} I/O queues are in use (one per thread and namespace)");
            }
        }
        return 0;
    }

    public void Connect(INvmeQueueOwner owner)
    {
        lock (_owners)
        {
            _owners.Add(owner);
        }
        Post(new AdminRequest { Kind = RequestKind.Connect, Owner = owner, Queue = owner.Queue });
    }

    /// <summary>The owner is gone: the admin thread deletes its queue from the controller,
    /// frees the rings and returns the queue id.</summary>
    public void Disconnect(INvmeQueueOwner owner)
    {
        lock (_owners)
        {
            _owners.Remove(owner);
        }
        Post(new AdminRequest { Kind = RequestKind.Disconnect, Owner = owner, Queue = owner.Queue });
    }

    public void ReleaseQueueId(ushort qid)
    {
        lock (_owners)
        {
            if (qid < _qidUsed.Length)
            {
                _qidUsed[qid] = false;
            }
        }
    }

    public void RequestAbort(ushort sqid, ushort cid) =>
        Post(new AdminRequest { Kind = RequestKind.Abort, Cid = cid, Command = new NvmeCommand { Cdw10 = sqid | (uint)cid << 16 } });

    /// <summary>Starts a controller reset; also the way back for a failed controller.
    /// <paramref name="done"/> runs on the admin thread with the outcome.</summary>
    public int RequestReset(string reason, Action<AdminRequest>? done)
    {
        if (State == NvmeControllerState.Detached)
        {
            return LastError.Set(Errno.ENODEV, $"nvme {Address} has been detached");
        }
        Log.Info($"nvme {Address}: reset requested: {reason}");
        Post(new AdminRequest { Kind = RequestKind.Reset, Done = done });
        return 0;
    }

    public void Passthru(in NvmeCommand cmd, void* buffer, int length, Action<AdminRequest> done) =>
        Post(new AdminRequest { Kind = RequestKind.Passthru, Command = cmd, Buffer = (nint)buffer, Length = length, Done = done });

    // ------------------------------------------------------------------ the admin thread

    private void AdminThread()
    {
        while (true)
        {
            _wake.WaitOne(AdminPollMs); // requests wake it at once
            bool stopping = _stop;
            try
            {
                Step();
            }
            catch (Exception e)
            {
                Log.Error($"nvme {Address}: admin thread: {e.Message}");
            }
            if (stopping && _requests.IsEmpty)
            {
                return;
            }
        }
    }

    private void Step()
    {
        NvmeControllerState state = State;
        if (state is NvmeControllerState.Ready)
        {
            uint csts = Csts;
            if (csts == uint.MaxValue || (csts & NvmeSpec.CstsFatal) != 0)
            {
                Reset(csts == uint.MaxValue ? "the controller does not respond (CSTS reads all ones)" : "controller fatal status (CSTS.CFS)");
                return;
            }
            var poll = new AdminCompleter { Controller = this, WaitCid = ushort.MaxValue };
            _admin!.Reap(ref poll, 16);
            if (_aerPending != 0)
            {
                _aerPending = 0;
                HandleAsyncEvent(_aerResult);
            }
            SubmitAsyncEventRequest();
        }
        // Resets first: they re-create every connected queue anyway.
        int n = _requests.Count;
        bool reset = false;
        var later = new List<AdminRequest>();
        for (int i = 0; i < n && _requests.TryDequeue(out AdminRequest? r); i++)
        {
            if (r.Kind == RequestKind.Reset)
            {
                reset = true;
                later.Insert(0, r);
            }
            else
            {
                later.Add(r);
            }
        }
        if (reset)
        {
            Reset("requested");
        }
        foreach (AdminRequest r in later)
        {
            Run(r);
        }
    }

    private void Run(AdminRequest r)
    {
        bool ready = State == NvmeControllerState.Ready;
        switch (r.Kind)
        {
            case RequestKind.Reset:
                r.Status = State == NvmeControllerState.Ready ? 0 : LastError.Set(Errno.EIO, $"nvme {Address}: reset failed");
                break;
            case RequestKind.Connect:
                if (!IsOwner(r.Owner!) || r.Owner!.Connected)
                {
                    break;
                }
                if (ready)
                {
                    if (CreateIoQueue(r.Queue!) == 0)
                    {
                        r.Owner.Connected = true;
                    }
                    else
                    {
                        // A reset re-creates every queue, this one included, or fails the
                        // controller (and with it the I/O waiting for this queue).
                        Reset($"I/O queue {r.Queue!.Id} could not be created: {LastError.Message}");
                    }
                }
                break;
            case RequestKind.Disconnect:
                if (ready && r.Owner!.Connected && DeleteIoQueue(r.Queue!) != 0)
                {
                    // The controller may still own the rings: take them back by a reset
                    // (which no longer knows this queue) before they are freed.
                    Reset($"I/O queue {r.Queue!.Id} could not be deleted: {LastError.Message}");
                }
                r.Owner!.Connected = false;
                r.Queue!.Dispose();
                ReleaseQueueId(r.Queue.Id);
                break;
            case RequestKind.Abort:
                if (ready)
                {
                    var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminAbort, Cdw10 = r.Command.Cdw10 };
                    Execute(ref cmd, null, 0, out _);
                }
                break;
            case RequestKind.Passthru:
                if (!ready)
                {
                    r.Status = LastError.Set(Errno.EAGAIN, $"nvme {Address} is {State}");
                    break;
                }
                NvmeCommand c = r.Command;
                c.Prp1 = c.Prp2 = c.Mptr = 0; // the driver's data pointer, never the caller's
                r.Status = Execute(ref c, (void*)r.Buffer, r.Length, out r.Completion);
                if (r.Status == -Errno.ETIMEDOUT)
                {
                    Reset("admin command timed out");
                }
                break;
        }
        r.Done?.Invoke(r);
    }

    private bool IsOwner(INvmeQueueOwner owner)
    {
        lock (_owners)
        {
            return _owners.Contains(owner);
        }
    }

    /// <summary>Disable, let every queue owner reclaim the commands the controller dropped,
    /// bring the controller back and re-create every queue. Commands the owners reclaimed
    /// are resubmitted by them once their queue is connected again.</summary>
    private void Reset(string reason)
    {
        Volatile.Write(ref _state, (int)NvmeControllerState.Resetting);
        Interlocked.Increment(ref _resetCount);
        Log.Warn($"nvme {Address}: resetting the controller ({reason})");
        // Disconnected before the generation moves: an owner that sees the new generation
        // reclaims its queue and must not fill it again until the queue is re-created.
        INvmeQueueOwner[] owners;
        lock (_owners)
        {
            owners = _owners.ToArray();
            foreach (INvmeQueueOwner o in owners)
            {
                o.Connected = false;
            }
        }
        bool disabled = Disable();
        int gen = Interlocked.Increment(ref _generation);
        lock (_owners)
        {
            owners = _owners.ToArray(); // and those that arrived meanwhile (not connected yet)
        }
        long deadline = Ticks.Now + Ticks.FromMicroseconds(ResetAckTimeoutMs * 1000L);
        foreach (INvmeQueueOwner o in owners)
        {
            while (o.AckedGeneration != gen && o.AckedGeneration != int.MaxValue && Ticks.Now < deadline)
            {
                Thread.Sleep(1);
            }
            if (o.AckedGeneration != gen && o.AckedGeneration != int.MaxValue)
            {
                Log.Error($"nvme {Address}: I/O queue {o.Queue.Id} was not released by its thread within {ResetAckTimeoutMs} ms (is the thread polled?)");
                Fail("a queue owner did not take part in the reset");
                return;
            }
        }
        int rc = disabled ? Enable() : LastError.Set(Errno.ETIMEDOUT, $"nvme {Address} did not disable");
        if (rc == 0)
        {
            rc = ConfigureQueuesAndEvents();
        }
        if (rc != 0)
        {
            Fail(LastError.Message);
            return;
        }
        lock (_owners)
        {
            owners = _owners.ToArray();
        }
        foreach (INvmeQueueOwner o in owners)
        {
            if (CreateIoQueue(o.Queue) != 0)
            {
                Fail($"I/O queue {o.Queue.Id} could not be re-created: {LastError.Message}");
                return;
            }
            o.Connected = true;
        }
        SubmitAsyncEventRequest();
        Interlocked.Exchange(ref _resetRequested, 0);
        Volatile.Write(ref _state, (int)NvmeControllerState.Ready);
        Log.Notice($"nvme {Address}: reset complete");
    }

    /// <summary>The controller is given up: queue owners fail what they hold and all new I/O.</summary>
    private void Fail(string reason)
    {
        Log.Error($"nvme {Address}: controller failed: {reason}");
        Volatile.Write(ref _state, (int)NvmeControllerState.Failed);
        lock (_owners)
        {
            foreach (INvmeQueueOwner o in _owners)
            {
                o.Connected = false;
            }
        }
        // Owners fail their I/O once the generation moves: the device must not be able to
        // write into those buffers any more.
        StopDma();
        Interlocked.Increment(ref _generation);
        ControllerFailed?.Invoke(reason);
    }

    /// <summary>A timed-out command, from a channel's scan: once per reset.</summary>
    public void RequestResetOnce(string reason)
    {
        if (Interlocked.CompareExchange(ref _resetRequested, 1, 0) == 0)
        {
            RequestReset(reason, null);
        }
    }

    private void HandleAsyncEvent(uint dw0)
    {
        int type = (int)(dw0 & 7);
        int info = (int)((dw0 >> 8) & 0xFF);
        int logPage = (int)((dw0 >> 16) & 0xFF);
        if (type == NvmeSpec.AsyncEventTypeNotice && info == NvmeSpec.AsyncEventNoticeNamespaceChanged)
        {
            // Reading the changed-namespace log clears the event; then the active namespaces
            // are read again whole (the log may say "more than 1024 changed").
            var cmd = new NvmeCommand
            {
                Opcode = NvmeSpec.AdminGetLogPage, Nsid = 0xFFFFFFFF,
                Cdw10 = NvmeSpec.LogChangedNamespaces | (uint)(NvmeSpec.PageSize / 4 - 1) << 16,
            };
            Execute(ref cmd, _identifyBuffer, NvmeSpec.PageSize, out _);
            if (ReadActiveNamespaces(out Dictionary<uint, NvmeNamespaceInfo>? now) != 0)
            {
                Log.Error($"nvme {Address}: namespaces changed but cannot be read: {LastError.Message}");
                return;
            }
            Dictionary<uint, NvmeNamespaceInfo> before;
            lock (_namespaces)
            {
                before = new Dictionary<uint, NvmeNamespaceInfo>(_namespaces);
                _namespaces.Clear();
                foreach (var kv in now!)
                {
                    _namespaces[kv.Key] = kv.Value;
                }
            }
            foreach (var (nsid, old) in before)
            {
                if (!now.TryGetValue(nsid, out NvmeNamespaceInfo current))
                {
                    // Detached or deleted on the device: its bdev is hot-removed.
                    Log.Warn($"nvme {Address}: namespace {nsid} is no longer active");
                    NamespaceChanged?.Invoke(old with { BlockCount = 0 });
                }
                else if (current.BlockCount != old.BlockCount)
                {
                    Log.Notice($"nvme {Address}: namespace {nsid} changed size: {old.BlockCount} -> {current.BlockCount} blocks");
                    NamespaceChanged?.Invoke(current);
                }
            }
            foreach (uint nsid in now.Keys)
            {
                if (!before.ContainsKey(nsid))
                {
                    Log.Notice($"nvme {Address}: namespace {nsid} is active: attach it with pcie:///{Address}/{nsid}");
                }
            }
        }
        else
        {
            Log.Info($"nvme {Address}: asynchronous event type {type} info 0x{info:x2} log page 0x{logPage:x2}");
            if (logPage != 0)
            {
                // Reading the log page re-arms events of that type.
                var cmd = new NvmeCommand { Opcode = NvmeSpec.AdminGetLogPage, Nsid = 0xFFFFFFFF, Cdw10 = (uint)logPage | 127u << 16 };
                Execute(ref cmd, _identifyBuffer, 512, out _);
            }
        }
    }

    // ------------------------------------------------------------------ detach

    private void Detach()
    {
        _stop = true;
        _wake.Set();
        if (_thread != null && _thread != Thread.CurrentThread)
        {
            _thread.Join(); // (a hot-removed namespace may drop the last reference from it)
        }
        if (State is NvmeControllerState.Ready or NvmeControllerState.Resetting)
        {
            Shutdown();
        }
        else
        {
            StopDma(); // the admin queue's memory is about to be freed
        }
        Volatile.Write(ref _state, (int)NvmeControllerState.Detached);
        FreeResources();
        Function.Dispose();
        Log.Notice($"nvme {Address}: detached");
    }

    /// <summary>Orderly shutdown: CC.SHN = normal, wait for CSTS.SHST = complete, so the
    /// controller flushes its caches before the function is let go.</summary>
    private void Shutdown()
    {
        uint cc = Read32(NvmeSpec.RegCc);
        Write32(NvmeSpec.RegCc, (cc & ~NvmeSpec.CcShnMask) | NvmeSpec.CcShnNormal);
        if (!WaitStatus(NvmeSpec.CstsShstMask, NvmeSpec.CstsShstComplete, Math.Max(ReadyTimeoutMs, 5000)))
        {
            Log.Warn($"nvme {Address}: shutdown did not complete (CSTS 0x{Csts:x})");
        }
    }

    private void FreeResources()
    {
        _admin?.Dispose();
        _admin = null;
        if (_identifyBuffer != null)
        {
            NbEnvironment.Dma?.Free(_identifyBuffer);
            _identifyBuffer = null;
        }
    }

    public string StateName => State.ToString().ToLowerInvariant();
}
