using System;
using System.Collections.Generic;

namespace NativeBdev.Targets.Nvmf;

/// <summary>An NVM subsystem (SPDK's spdk_nvmf_subsystem): an NQN, who may connect, its
/// namespaces and the controllers hosts made on it, and where it listens. Lives on the
/// target's thread, as everything of the target does.</summary>
internal sealed class NvmfSubsystem
{
    public const string DiscoveryNqn = "nqn.2014-08.org.nvmexpress.discovery";
    public const int DefaultMaxNamespaces = 32;

    private readonly HashSet<string> _hosts = new(StringComparer.Ordinal);
    private readonly SortedDictionary<uint, NvmfNamespace> _namespaces = new();
    private readonly Dictionary<ushort, NvmfController> _controllers = new();
    private ushort _nextCntlid;

    public NvmfSubsystem(string nqn, string serial, string model, int maxNamespaces, ushort minCntlid,
        ushort maxCntlid, bool discovery)
    {
        Nqn = nqn;
        Serial = serial;
        Model = model;
        MaxNamespaces = maxNamespaces;
        MinCntlid = minCntlid;
        MaxCntlid = maxCntlid;
        IsDiscovery = discovery;
        _nextCntlid = minCntlid;
        NamespaceTable = new NvmfNamespace?[maxNamespaces];
    }

    public string Nqn { get; }
    public string Serial { get; }
    public string Model { get; }
    public int MaxNamespaces { get; }
    public ushort MinCntlid { get; }
    public ushort MaxCntlid { get; }
    public bool IsDiscovery { get; }
    public bool AllowAnyHost { get; set; }
    public List<NvmfListenAddress> Listeners { get; } = new();

    /// <summary>Namespace by NSID - 1: what the I/O path reads.</summary>
    public NvmfNamespace?[] NamespaceTable { get; }

    // Concrete collections: their struct enumerators keep the pollers that walk them allocation-free.
    public SortedDictionary<uint, NvmfNamespace>.ValueCollection Namespaces => _namespaces.Values;

    public int NamespaceCount => _namespaces.Count;

    public HashSet<string> Hosts => _hosts;

    public Dictionary<ushort, NvmfController>.ValueCollection Controllers => _controllers.Values;

    public bool HostAllowed(string hostNqn) => IsDiscovery || AllowAnyHost || _hosts.Contains(hostNqn);

    public bool AddHost(string hostNqn) => _hosts.Add(hostNqn);

    public bool RemoveHost(string hostNqn) => _hosts.Remove(hostNqn);

    public NvmfNamespace? Namespace(uint nsid) =>
        nsid >= 1 && nsid <= (uint)MaxNamespaces ? NamespaceTable[nsid - 1] : null;

    /// <summary>The lowest free NSID, or 0 when all are taken.</summary>
    public uint FreeNsid()
    {
        for (int i = 0; i < MaxNamespaces; i++)
        {
            if (NamespaceTable[i] == null)
            {
                return (uint)i + 1;
            }
        }
        return 0;
    }

    public void AddNamespace(NvmfNamespace ns)
    {
        _namespaces.Add(ns.Nsid, ns);
        NamespaceTable[ns.Nsid - 1] = ns;
    }

    public NvmfNamespace? RemoveNamespace(uint nsid)
    {
        if (!_namespaces.Remove(nsid, out NvmfNamespace? ns))
        {
            return null;
        }
        NamespaceTable[nsid - 1] = null;
        ns.Removed = true;
        return ns;
    }

    /// <summary>A cntlid from the subsystem's range not in use, or 0 when the range is full.</summary>
    public ushort AllocateCntlid()
    {
        int span = MaxCntlid - MinCntlid + 1;
        for (int i = 0; i < span; i++)
        {
            ushort id = _nextCntlid;
            _nextCntlid = id >= MaxCntlid ? MinCntlid : (ushort)(id + 1);
            if (!_controllers.ContainsKey(id))
            {
                return id;
            }
        }
        return 0;
    }

    public void AddController(NvmfController c) => _controllers.Add(c.Cntlid, c);

    public void RemoveController(NvmfController c) => _controllers.Remove(c.Cntlid);

    public NvmfController? Controller(ushort cntlid) => _controllers.GetValueOrDefault(cntlid);
}
