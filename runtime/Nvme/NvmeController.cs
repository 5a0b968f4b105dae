using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
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

/// <summary>One NVMe controller, transport-neutral (SPDK's nvme.c and nvme_ctrlr.c): the
/// registry of attached controllers, their state, and what channels ask of them. The
/// controller's procedures — bring-up, identify, namespaces, asynchronous events, aborts,
/// resets, shutdown — are <see cref="NvmeSequence"/>s advanced by its admin poll, which runs
/// on an OS thread of its own (not a reactor) and alone touches the admin queue: channels
/// post requests, so no reactor waits for an admin command and the admin queue needs no
/// lock. The transport (<see cref="INvmeTransport"/>) is the only part that knows PCIe.</summary>
internal sealed unsafe partial class NvmeController
{
    public const int AdminQueueEntries = 32;
    public const int MaxIoQueueEntries = 256;
    private const int ResetAckTimeoutMs = 10_000;
    /// <summary>How often the admin poll looks at CSTS and the admin completion queue when
    /// nothing wakes it (SPDK polls admin queues every 10 ms too).</summary>
    private const int AdminPollMs = 10;

    public readonly INvmeTransport Transport;
    public string Address => Transport.Address;
    public string Mode => Transport.Mode;

    public ulong Cap { get; private set; }
    public uint Version { get; private set; }
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

    private NvmeAdminQueue? _admin;
    private NvmeTransportQueue? _adminQueue;
    private byte* _identifyBuffer; // one page of DMA memory for identify and log pages
    private readonly List<INvmeQueueOwner> _owners = new();
    private readonly ConcurrentQueue<AdminRequest> _requests = new();
    private readonly AutoResetEvent _wake = new(false);
    private bool[] _qidUsed = [];
    private Thread? _thread;
    private volatile bool _stop;
    private int _resetRequested;
    private long _resetCount;
    private int _refs;

    /// <summary>Called on the admin poll when a namespace's size changed (AER); a block
    /// count of 0: the namespace is no longer active.</summary>
    public Action<NvmeNamespaceInfo>? NamespaceChanged;
    /// <summary>Called on the admin poll for a namespace that became active (AER); null: the
    /// namespace is only logged, with the URI that attaches it.</summary>
    public Action<NvmeNamespaceInfo>? NamespaceAdded;
    /// <summary>Called on the admin poll when the controller is given up (with why).</summary>
    public Action<string>? ControllerFailed;

    /// <summary>Set once a URI attached every namespace: the prefix of the bdevs new
    /// namespaces get (SPDK's CTRLRnNSID).</summary>
    public string? AutoAttachPrefix { get; private set; }

    /// <summary>The first call for the controller wins (true): new namespaces become bdevs.</summary>
    public bool EnableAutoAttach(string prefix)
    {
        lock (s_lock)
        {
            if (AutoAttachPrefix != null)
            {
                return false;
            }
            AutoAttachPrefix = prefix;
            return true;
        }
    }

    private NvmeController(INvmeTransport transport, long commandTimeoutMs)
    {
        Transport = transport;
        CommandTimeoutTicks = Ticks.FromMicroseconds(commandTimeoutMs * 1000);
    }

    // ------------------------------------------------------------------ registry

    private static readonly Dictionary<string, NvmeController> s_controllers = new();
    private static readonly object s_lock = new();

    /// <summary>The attached controller at <paramref name="address"/>, attaching it (open
    /// the function, start its admin poll, run the bring-up sequence) on first use. Each call
    /// takes a reference that <see cref="Release"/> returns.</summary>
    public static int Attach(string address, string mode, long commandTimeoutMs, out NvmeController? controller) =>
        Attach(address, mode, commandTimeoutMs, () =>
        {
            int rc = PciFunction.Open(address, mode, out PciFunction? function);
            return (rc, rc == 0 ? new NvmePcieTransport(function!) : null);
        }, out controller);

    /// <summary>The same for any transport: <paramref name="open"/> makes it on first use
    /// (0 and the transport, or -errno).</summary>
    public static int Attach(string address, string mode, long commandTimeoutMs,
        Func<(int Rc, INvmeTransport? Transport)> open, out NvmeController? controller)
    {
        lock (s_lock)
        {
            if (s_controllers.TryGetValue(address, out controller))
            {
                if (mode != "auto" && controller.Mode != mode)
                {
                    controller = null;
                    return LastError.Set(Errno.EBUSY,
                        $"NVMe controller {address} is attached through {s_controllers[address].Mode}, not {mode}");
                }
                controller._refs++;
                return 0;
            }
            (int rc, INvmeTransport? transport) = open();
            if (rc != 0)
            {
                return rc;
            }
            var c = new NvmeController(transport!, commandTimeoutMs);
            if ((rc = c.BringUp()) != 0)
            {
                c.FreeResources();
                c.Transport.Dispose();
                return rc;
            }
            c._refs = 1;
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

    /// <summary>A reference, unless the last one went already (the controller is detaching).</summary>
    public bool TryAddRef()
    {
        lock (s_lock)
        {
            if (_refs <= 0)
            {
                return false;
            }
            _refs++;
            return true;
        }
    }

    public static NvmeController? Find(string address)
    {
        lock (s_lock)
        {
            return s_controllers.GetValueOrDefault(address);
        }
    }

    /// <summary>Drops a reference; the last one detaches: the admin poll stops, the
    /// controller is shut down (CC.SHN) and the transport is closed.</summary>
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

    public uint Csts
    {
        get
        {
            Transport.GetProperty32(NvmeSpec.RegCsts, out uint v);
            return v;
        }
    }

    public string StateName => State.ToString().ToLowerInvariant();

    /// <summary>I/O fails at once instead of waiting for the controller to come back.</summary>
    public bool FailIoFast => State == NvmeControllerState.Resetting && Transport.FailIoFast;

    // ------------------------------------------------------------------ requests from channels

    internal enum RequestKind
    {
        Connect,
        Disconnect,
        Abort,
        Reset,
        Passthru,
    }

    /// <summary>Work for the admin poll. Completion (when there is one) is posted back to
    /// the requester by <see cref="Done"/>, on the admin poll.</summary>
    internal sealed class AdminRequest
    {
        internal RequestKind Kind;
        internal INvmeQueueOwner? Owner;
        internal NvmeTransportQueue? Queue;
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

    /// <summary>Registers a queue owner and allocates its queue id; the admin poll creates
    /// the queue on the controller and then sets <see cref="INvmeQueueOwner.Connected"/>.</summary>
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
                return LastError.Set(Errno.ENOMEM,
                    $"nvme {Address}: all {MaxIoQueues} I/O queues are in use (one per thread)");
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

    /// <summary>The owner is gone: the admin poll deletes its queue from the controller,
    /// frees it and returns the queue id.</summary>
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
        Post(new AdminRequest
        {
            Kind = RequestKind.Abort, Command = new NvmeCommand { Cdw10 = sqid | (uint)cid << 16 },
        });

    /// <summary>Starts a controller reset; also the way back for a failed controller.
    /// <paramref name="done"/> runs on the admin poll with the outcome.</summary>
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

    /// <summary>A timed-out command, from a queue's scan: once per reset.</summary>
    public void RequestResetOnce(string reason)
    {
        if (Interlocked.CompareExchange(ref _resetRequested, 1, 0) == 0)
        {
            RequestReset(reason, null);
        }
    }

    /// <summary>An admin command of the caller's (admin passthrough); <paramref name="done"/>
    /// runs on the admin poll.</summary>
    public void Passthru(in NvmeCommand cmd, void* buffer, int length, Action<AdminRequest> done) =>
        Post(new AdminRequest
        {
            Kind = RequestKind.Passthru, Command = cmd, Buffer = (nint)buffer, Length = length, Done = done,
        });

    private bool IsOwner(INvmeQueueOwner owner)
    {
        lock (_owners)
        {
            return _owners.Contains(owner);
        }
    }

    private INvmeQueueOwner[] Owners()
    {
        lock (_owners)
        {
            return _owners.ToArray();
        }
    }
}
