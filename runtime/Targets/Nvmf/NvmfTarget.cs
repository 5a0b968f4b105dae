using System;
using System.Collections.Generic;
using System.Linq;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Nvme.Tcp;
using NativeBdev.Reactor;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The NVMe/TCP target (SPDK's nvmf_tgt with its TCP transport): subsystems with
/// namespaces backed by bdevs, allowed hosts and listeners, and the discovery subsystem.
/// The discovery subsystem answers on every listener (as SPDK's does) and lists the others.
/// Its tables, listeners, controllers and admin queues live on the thread that started it and
/// are changed only there; I/O queues are spread over poll groups, one per thread (see
/// <see cref="NvmfPollGroup"/>), and read the namespace table without a lock.</summary>
internal sealed unsafe class NvmfTarget
{
    private const long KeepAliveCheckMicroseconds = 100_000;

    private readonly Dictionary<string, NvmfSubsystem> _subsystems = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Listening> _listeners = new(StringComparer.Ordinal);
    private readonly List<NvmfConnection> _connections = new();
    private readonly NvmfSubsystem _discovery;
    private readonly List<LightweightThread> _retiring = new();
    private NvmfPollGroup[] _groups = [];
    private int _nextGroup;
    private int _ownedGroupsRunning;
    private bool _stopped;
    private Poller? _poller;
    private long _nextKeepAliveCheck;

    private sealed class Listening(NetListener listener, NvmfListenAddress address)
    {
        public readonly NetListener Listener = listener;
        public readonly NvmfListenAddress Address = address;
        public readonly HashSet<NvmfSubsystem> Users = new();
    }

    private NvmfTarget(LightweightThread thread, NvmfTransportOptions options)
    {
        Thread = thread;
        Options = options;
        _discovery = new NvmfSubsystem(NvmfSubsystem.DiscoveryNqn, "", "NativeBdev discovery", 0, 1, 0xFFEF, true);
        _subsystems.Add(_discovery.Nqn, _discovery);
    }

    public LightweightThread Thread { get; }

    /// <summary>The TCP transport's options: those of the start, or of a later
    /// nvmf_create_transport while no listener exists yet.</summary>
    public NvmfTransportOptions Options { get; private set; }

    /// <summary>The transport was configured (nb_nvmf_target_start with options, or
    /// nvmf_create_transport); a target started by nvmf_create_subsystem has defaults until then.</summary>
    public bool TransportCreated { get; private set; }

    /// <summary>nvmf_create_transport -t TCP: sets the transport's options, once, before anything listens.</summary>
    public int CreateTransport(NvmfTransportOptions options)
    {
        int rc = OnThread("nvmf_create_transport");
        if (rc != 0)
        {
            return rc;
        }
        if (TransportCreated)
        {
            return LastError.Set(Errno.EEXIST, "Transport type 'TCP' already exists");
        }
        if (options.Check() is { } why)
        {
            return LastError.Set(Errno.EINVAL, $"NVMe/TCP transport: {why}");
        }
        if (_listeners.Count > 0)
        {
            return LastError.Set(Errno.EBUSY, "the TCP transport's options cannot change while listeners exist");
        }
        Options = options;
        TransportCreated = true;
        return 0;
    }

    public Dictionary<string, NvmfSubsystem>.ValueCollection Subsystems => _subsystems.Values;

    /// <summary>Changes with every listener added or removed (discovery log GENCTR).</summary>
    public ulong DiscoveryGeneration { get; private set; }

    /// <summary>Connections not yet fully closed (their bdev I/O may still be finishing).</summary>
    public int ConnectionCount => _connections.Count;

    /// <param name="pollGroupThreads">the threads to spread I/O queues over besides the
    /// target's own (their owner polls them); null: when reactors run, a thread of the target's
    /// own on each reactor core other than the target thread's, as SPDK's nvmf_tgt makes one
    /// poll group per core; without reactors, the target's thread alone</param>
    public static int Start(NvmfTransportOptions? options, out NvmfTarget? target, bool transport = true,
        LightweightThread[]? pollGroupThreads = null)
    {
        target = null;
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: start the NVMe/TCP target from inside nb_thread_poll or after nb_set_thread");
        }
        options ??= new NvmfTransportOptions();
        if (options.Check() is { } why)
        {
            return LastError.Set(Errno.EINVAL, $"NVMe/TCP transport: {why}");
        }
        var t = new NvmfTarget(thread, options) { TransportCreated = transport };
        int rc = thread.RegisterPoller("nvmf_tgt", 0, (nint)(delegate*<object?, int>)&PollThunk, 0, t, managed: true,
            out t._poller);
        if (rc != 0)
        {
            return rc;
        }
        var group0 = new NvmfPollGroup(t, thread, 0, ownsThread: false);
        rc = group0.Start();
        if (rc != 0)
        {
            thread.UnregisterPoller(t._poller!);
            return rc;
        }
        t._groups = t.MakeGroups(group0, pollGroupThreads);
        target = t;
        return 0;
    }

    /// <summary>Group 0 and the others: on the given threads, or on threads of the target's
    /// own, one per reactor core. A thread that cannot be made or take the group's start
    /// message is left out (with a warning): fewer groups, never none.</summary>
    private NvmfPollGroup[] MakeGroups(NvmfPollGroup group0, LightweightThread[]? given)
    {
        var groups = new List<NvmfPollGroup> { group0 };
        if (given != null)
        {
            foreach (LightweightThread th in given)
            {
                if (th != Thread && !groups.Exists(g => g.Thread == th))
                {
                    AddGroup(groups, new NvmfPollGroup(this, th, groups.Count, ownsThread: false));
                }
            }
            return groups.ToArray();
        }
        int own = Thread.Reactor?.Core ?? -1;
        foreach (Reactor.Reactor r in ReactorSet.Reactors)
        {
            if (r.Core == own)
            {
                continue;
            }
            if (LightweightThread.Create($"nvmf_tgt_poll_group_{groups.Count:D3}", CpuSet.Single(r.Core),
                    out LightweightThread? th) != 0)
            {
                Log.Warn($"nvmf: no poll group thread on core {r.Core}: {LastError.Message}");
                continue;
            }
            if (AddGroup(groups, new NvmfPollGroup(this, th!, groups.Count, ownsThread: true)))
            {
                _ownedGroupsRunning++;
            }
            else
            {
                th!.RequestExit();
                _retiring.Add(th);
            }
        }
        return groups.ToArray();
    }

    private static bool AddGroup(List<NvmfPollGroup> groups, NvmfPollGroup g)
    {
        if (g.StartRemote() != 0)
        {
            Log.Warn($"nvmf: thread '{g.Thread.Name}' takes no messages: no poll group there");
            return false;
        }
        groups.Add(g);
        return true;
    }

    /// <summary>The poll groups, group 0 (the target's thread) first.</summary>
    public NvmfPollGroup[] PollGroups => _groups;

    /// <summary>Where the next I/O queue goes: the groups in turn.</summary>
    internal NvmfPollGroup NextIoGroup()
    {
        NvmfPollGroup g = _groups[_nextGroup];
        _nextGroup = (_nextGroup + 1) % _groups.Length;
        return g;
    }

    internal NvmfPollGroup Group0 => _groups[0];

    /// <summary>A thread of the target's own whose group stopped: destroyed once it exited.</summary>
    internal void Retire(LightweightThread thread)
    {
        _retiring.Add(thread);
        _ownedGroupsRunning--;
    }

    public NvmfSubsystem? Find(string nqn) => _subsystems.GetValueOrDefault(nqn);

    private int OnThread(string what) =>
        Thread.IsCurrent ? 0 : LastError.Set(Errno.EINVAL,
            $"NVMe/TCP target: {what} runs on the target's thread ({Thread.OwnerHint()})");

    private int Lookup(string? nqn, string what, out NvmfSubsystem? s)
    {
        s = null;
        int rc = OnThread(what);
        if (rc != 0)
        {
            return rc;
        }
        if (nqn == null || (s = Find(nqn)) == null || s.IsDiscovery)
        {
            s = null;
            return LastError.Set(Errno.ENOENT, $"NVMe/TCP target: {what}: no subsystem '{nqn}'");
        }
        return 0;
    }

    // ------------------------------------------------------------------ subsystems

    public int CreateSubsystem(string nqn, string? serial, string? model, int maxNamespaces, ushort minCntlid,
        ushort maxCntlid, bool allowAnyHost)
    {
        int rc = OnThread("nvmf_create_subsystem");
        if (rc != 0)
        {
            return rc;
        }
        if (!NvmeFabrics.IsValidNqn(nqn, out string why))
        {
            return LastError.Set(Errno.EINVAL, $"subsystem NQN '{nqn}': {why}");
        }
        if (_subsystems.ContainsKey(nqn))
        {
            return LastError.Set(Errno.EEXIST, $"subsystem '{nqn}' exists");
        }
        // SPDK's defaults, which scripts and udev rules written for it expect.
        serial ??= "00000000000000000000";
        model ??= "SPDK bdev Controller";
        if (!IsAsciiField(serial, 20) || !IsAsciiField(model, 40))
        {
            return LastError.Set(Errno.EINVAL,
                $"subsystem '{nqn}': serial (at most 20) and model (at most 40) are printable ASCII");
        }
        if (maxNamespaces == 0)
        {
            maxNamespaces = NvmfSubsystem.DefaultMaxNamespaces;
        }
        if (maxNamespaces < 1 || maxNamespaces > 1024)
        {
            return LastError.Set(Errno.EINVAL, $"subsystem '{nqn}': max_namespaces {maxNamespaces} (1..1024)");
        }
        if (minCntlid == 0 && maxCntlid == 0)
        {
            (minCntlid, maxCntlid) = ((ushort)1, (ushort)0xFFEF);
        }
        if (minCntlid < 1 || maxCntlid > 0xFFEF || minCntlid > maxCntlid)
        {
            return LastError.Set(Errno.EINVAL,
                $"subsystem '{nqn}': controller id range {minCntlid}..{maxCntlid} (within 1..65519)");
        }
        _subsystems.Add(nqn, new NvmfSubsystem(nqn, serial, model, maxNamespaces, minCntlid, maxCntlid, false)
        {
            AllowAnyHost = allowAnyHost,
        });
        return 0;
    }

    private static bool IsAsciiField(string s, int max)
    {
        if (s.Length > max)
        {
            return false;
        }
        foreach (char c in s)
        {
            if (c < 0x20 || c > 0x7E)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Disconnects its hosts, closes its namespaces and stops listening for it.</summary>
    public int DeleteSubsystem(string? nqn)
    {
        int rc = Lookup(nqn, "nvmf_delete_subsystem", out NvmfSubsystem? s);
        if (rc != 0)
        {
            return rc;
        }
        Disconnect(s!, $"subsystem '{s!.Nqn}' deleted");
        foreach (NvmfNamespace ns in new List<NvmfNamespace>(s.Namespaces))
        {
            s.RemoveNamespace(ns.Nsid);
            BdevRegistry.Close(ns.Desc);
        }
        foreach (NvmfListenAddress l in new List<NvmfListenAddress>(s.Listeners))
        {
            DropListener(s, l);
        }
        _subsystems.Remove(s.Nqn);
        return 0;
    }

    private void Disconnect(NvmfSubsystem s, string reason)
    {
        foreach (NvmfController c in new List<NvmfController>(s.Controllers))
        {
            c.Admin.Close(reason);
            c.Admin.MaybeFinish();
        }
    }

    public int SetAllowAnyHost(string? nqn, bool allow)
    {
        int rc = Lookup(nqn, "nvmf_subsystem_allow_any_host", out NvmfSubsystem? s);
        if (rc == 0)
        {
            s!.AllowAnyHost = allow;
        }
        return rc;
    }

    public int AddHost(string? nqn, string? hostNqn)
    {
        int rc = Lookup(nqn, "nvmf_subsystem_add_host", out NvmfSubsystem? s);
        if (rc != 0)
        {
            return rc;
        }
        if (hostNqn == null)
        {
            return LastError.Set(Errno.EINVAL, "nvmf_subsystem_add_host: no host NQN");
        }
        if (!NvmeFabrics.IsValidNqn(hostNqn, out string why))
        {
            return LastError.Set(Errno.EINVAL, $"host NQN '{hostNqn}': {why}");
        }
        return s!.AddHost(hostNqn) ? 0 : LastError.Set(Errno.EEXIST, $"host '{hostNqn}' is allowed on '{nqn}' already");
    }

    /// <summary>The host may no longer connect; its controllers on the subsystem end now.</summary>
    public int RemoveHost(string? nqn, string? hostNqn)
    {
        int rc = Lookup(nqn, "nvmf_subsystem_remove_host", out NvmfSubsystem? s);
        if (rc != 0)
        {
            return rc;
        }
        if (hostNqn == null || !s!.RemoveHost(hostNqn))
        {
            return LastError.Set(Errno.ENOENT, $"host '{hostNqn}' is not on '{nqn}''s list");
        }
        if (!s.HostAllowed(hostNqn))
        {
            foreach (NvmfController c in new List<NvmfController>(s.Controllers))
            {
                if (c.HostNqn == hostNqn)
                {
                    c.Admin.Close($"host '{hostNqn}' removed from '{nqn}'");
                    c.Admin.MaybeFinish();
                }
            }
        }
        return 0;
    }

    // ------------------------------------------------------------------ namespaces

    /// <summary>Adds a namespace over bdev <paramref name="bdevName"/> (opened for writing
    /// while the namespace exists); <paramref name="nsid"/> 0 takes the lowest free one.
    /// Returns the NSID, or a negative errno.</summary>
    public int AddNamespace(string? nqn, string? bdevName, uint nsid, Guid uuid, byte[]? nguid, ulong eui64)
    {
        int rc = Lookup(nqn, "nvmf_subsystem_add_ns", out NvmfSubsystem? s);
        if (rc != 0)
        {
            return rc;
        }
        if (string.IsNullOrEmpty(bdevName))
        {
            return LastError.Set(Errno.EINVAL, "nvmf_subsystem_add_ns: no bdev name");
        }
        if (nsid == 0)
        {
            nsid = s!.FreeNsid();
            if (nsid == 0)
            {
                return LastError.Set(Errno.ENOSPC, $"subsystem '{nqn}' has all its {s.MaxNamespaces} namespaces");
            }
        }
        else if (nsid > (uint)s!.MaxNamespaces || nsid > int.MaxValue)
        {
            return LastError.Set(Errno.EINVAL,
                $"NSID {nsid} is above subsystem '{nqn}''s {s.MaxNamespaces} namespaces");
        }
        else if (s.Namespace(nsid) != null)
        {
            return LastError.Set(Errno.EEXIST, $"subsystem '{nqn}' has namespace {nsid} already");
        }
        if (nguid != null && nguid.Length != 16)
        {
            return LastError.Set(Errno.EINVAL, "an NGUID is 16 bytes");
        }
        NvmfSubsystem sub = s;
        uint id = nsid;
        rc = BdevRegistry.Open(bdevName, true, null, null, (type, _) => OnBdevEvent(sub, id, type),
            out BdevDesc? desc);
        if (rc != 0)
        {
            return rc;
        }
        if (uuid == Guid.Empty)
        {
            uuid = desc!.Bdev.Uuid;
        }
        if (nguid == null || Array.TrueForAll(nguid, b => b == 0))
        {
            nguid = new byte[16]; // as SPDK: the UUID's bytes when none is given
            uuid.TryWriteBytes(nguid, bigEndian: true, out _);
        }
        s.AddNamespace(new NvmfNamespace(nsid, desc!, uuid, nguid, eui64));
        Changed(s, nsid);
        return (int)nsid;
    }

    public int RemoveNamespace(string? nqn, uint nsid)
    {
        int rc = Lookup(nqn, "nvmf_subsystem_remove_ns", out NvmfSubsystem? s);
        if (rc != 0)
        {
            return rc;
        }
        NvmfNamespace? ns = s!.RemoveNamespace(nsid);
        if (ns == null)
        {
            return LastError.Set(Errno.ENOENT, $"subsystem '{nqn}' has no namespace {nsid}");
        }
        BdevRegistry.Close(ns.Desc);
        Changed(s, nsid);
        return 0;
    }

    private void OnBdevEvent(NvmfSubsystem s, uint nsid, BdevEventType type)
    {
        NvmfNamespace? ns = s.Namespace(nsid);
        if (ns == null)
        {
            return;
        }
        switch (type)
        {
            case BdevEventType.Resize:
                Log.Info($"nvmf: namespace {nsid} of '{s.Nqn}' (bdev '{ns.Bdev.Name}') resized to " +
                    $"{ns.Bdev.BlockCount} blocks");
                Changed(s, nsid);
                break;
            case BdevEventType.Remove:
            case BdevEventType.Failed:
                Log.Info($"nvmf: namespace {nsid} of '{s.Nqn}' removed: its bdev '{ns.Bdev.Name}' is going ({type})");
                s.RemoveNamespace(nsid);
                BdevRegistry.Close(ns.Desc);
                Changed(s, nsid);
                break;
        }
    }

    /// <summary>Every controller of the subsystem hears of the change (log 04h, an AER).</summary>
    private static void Changed(NvmfSubsystem s, uint nsid)
    {
        foreach (NvmfController c in s.Controllers)
        {
            c.NamespaceChanged(nsid);
        }
    }

    // ------------------------------------------------------------------ listeners

    /// <summary>The subsystem is offered at TRADDR:TRSVCID (the discovery subsystem too);
    /// the first subsystem there starts listening. Returns the TCP port (the one the kernel
    /// chose for "0"), or a negative errno.</summary>
    public int AddListener(string? nqn, string? traddr, string? trsvcid)
    {
        int rc = Lookup(nqn, "nvmf_subsystem_add_listener", out NvmfSubsystem? s);
        if (rc != 0)
        {
            return rc;
        }
        if (!TransportCreated)
        {
            return LastError.Set(Errno.EINVAL, "Unable to find transport TCP (nvmf_create_transport -t TCP first)");
        }
        if (string.IsNullOrEmpty(traddr) || string.IsNullOrEmpty(trsvcid) || trsvcid.Length > 5 ||
            !trsvcid.All(char.IsAsciiDigit) || int.Parse(trsvcid) > 65535)
        {
            return LastError.Set(Errno.EINVAL,
                $"listener '{traddr}:{trsvcid}': an IP address and a TCP port number are required");
        }
        bool v6 = traddr.Contains(':');
        string key = v6 ? $"[{traddr}]:{trsvcid}" : $"{traddr}:{trsvcid}";
        // Port 0 asks for a new listener on a port the kernel chooses.
        Listening? l = trsvcid == "0" ? null : _listeners.GetValueOrDefault(key);
        if (l == null)
        {
            rc = NetEndpoint.TryParse(key, out NetEndpoint? endpoint);
            if (rc != 0)
            {
                return rc;
            }
            rc = NetListener.Start(endpoint!, null, Connect, out NetListener? listener);
            if (rc != 0)
            {
                return rc;
            }
            string port = PortOf(listener!.Endpoint.Text);
            var address = new NvmfListenAddress(v6 ? "IPv6" : "IPv4", traddr, port);
            l = new Listening(listener, address);
            _listeners.Add(v6 ? $"[{traddr}]:{port}" : $"{traddr}:{port}", l);
        }
        if (!l.Users.Add(s!))
        {
            return LastError.Set(Errno.EEXIST, $"subsystem '{nqn}' listens on {l.Address.Key} already");
        }
        s!.Listeners.Add(l.Address);
        DiscoveryGeneration++;
        return int.Parse(l.Address.Service);
    }

    private static string PortOf(string endpoint) => endpoint[(endpoint.LastIndexOf(':') + 1)..];

    public int RemoveListener(string? nqn, string? traddr, string? trsvcid)
    {
        int rc = Lookup(nqn, "nvmf_subsystem_remove_listener", out NvmfSubsystem? s);
        if (rc != 0)
        {
            return rc;
        }
        NvmfListenAddress? found = s!.Listeners.Find(a => a.Address == traddr && a.Service == trsvcid);
        if (found == null)
        {
            return LastError.Set(Errno.ENOENT, $"subsystem '{nqn}' does not listen on {traddr}:{trsvcid}");
        }
        DropListener(s, found);
        return 0;
    }

    private void DropListener(NvmfSubsystem s, NvmfListenAddress address)
    {
        s.Listeners.Remove(address);
        DiscoveryGeneration++;
        foreach ((string key, Listening l) in _listeners)
        {
            if (l.Address != address)
            {
                continue;
            }
            l.Users.Remove(s);
            if (l.Users.Count == 0)
            {
                l.Listener.Stop();
                _listeners.Remove(key);
            }
            return;
        }
    }

    // ------------------------------------------------------------------ connections

    private ISocketHandler Connect(NetSocket socket)
    {
        var c = new NvmfConnection(this, socket, Group0);
        _connections.Add(c);
        return c;
    }

    /// <summary>From the connection's thread, whichever it is.</summary>
    internal void Closed(NvmfConnection c)
    {
        if (Thread.IsCurrent)
        {
            _connections.Remove(c);
        }
        else if (Thread.Send(&ClosedThunk, c) != 0)
        {
            Log.Warn("nvmf: a connection ended after the target's thread went");
        }
    }

    private static void ClosedThunk(object? c, nint _) => ((NvmfConnection)c!).Target.Closed((NvmfConnection)c!);

    private static int PollThunk(object? o) => ((NvmfTarget)o!).Poll();

    private int Poll()
    {
        int n = 0;
        if (_retiring.Count > 0)
        {
            n += DestroyRetired();
        }
        if (_stopped)
        {
            if (_retiring.Count == 0 && _ownedGroupsRunning <= 0 && _poller != null)
            {
                Thread.UnregisterPoller(_poller);
                _poller = null;
            }
            return n;
        }
        long now = Ticks.Now;
        if (now >= _nextKeepAliveCheck)
        {
            _nextKeepAliveCheck = now + Ticks.FromMicroseconds(KeepAliveCheckMicroseconds);
            n += CheckKeepAlives(now);
        }
        return n;
    }

    /// <summary>A controller whose host sent nothing for KATO is torn down (NVMe base 2.0,
    /// "Keep Alive Timer"): its connections close, so a host that lost the target reconnects.</summary>
    private int CheckKeepAlives(long now)
    {
        int ended = 0;
        foreach (NvmfSubsystem s in _subsystems.Values)
        {
            foreach (NvmfController c in s.Controllers)
            {
                if (c.KeepAliveExpired(now))
                {
                    (_expired ??= new List<NvmfController>()).Add(c);
                }
            }
        }
        if (_expired == null)
        {
            return 0;
        }
        foreach (NvmfController c in _expired)
        {
            Log.Warn($"nvmf: controller {c.Cntlid} of '{c.Subsystem.Nqn}' (host {c.HostNqn}): no keep-alive for " +
                $"{c.KatoMs} ms; torn down");
            c.Admin.Close("keep-alive timeout");
            c.Admin.MaybeFinish();
            ended++;
        }
        _expired = null;
        return ended;
    }

    private List<NvmfController>? _expired;

    private int DestroyRetired()
    {
        int n = 0;
        for (int i = _retiring.Count - 1; i >= 0; i--)
        {
            LightweightThread th = _retiring[i];
            if (th.IsDestroyed || (th.IsExited && th.Destroy() == 0))
            {
                _retiring.RemoveAt(i);
                n++;
            }
        }
        return n;
    }

    /// <summary>Stops every listener, disconnects every host and closes every namespace;
    /// commands at the bdevs finish on later polls, then each connection's resources go
    /// (<see cref="ConnectionCount"/> reaches 0).</summary>
    public int Stop()
    {
        int rc = OnThread("stopping the target");
        if (rc != 0)
        {
            return rc;
        }
        foreach (NvmfSubsystem s in new List<NvmfSubsystem>(_subsystems.Values))
        {
            if (!s.IsDiscovery)
            {
                DeleteSubsystem(s.Nqn);
            }
        }
        foreach (Listening l in _listeners.Values)
        {
            l.Listener.Stop();
        }
        _listeners.Clear();
        foreach (NvmfConnection c in new List<NvmfConnection>(_connections))
        {
            c.CloseAnywhere("the target stopped");
        }
        foreach (NvmfPollGroup g in _groups)
        {
            g.Stop();
        }
        // The poller stays until the poll group threads of the target's own are destroyed.
        _stopped = true;
        return 0;
    }
}
