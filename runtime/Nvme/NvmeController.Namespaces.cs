using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>Namespaces (SPDK's nvme_ns.c): the active namespace list, each one identified
/// (block size, size, NGUID), and the asynchronous event that says the list changed: the
/// list is read again and each namespace gone, resized or new is reported.</summary>
internal sealed unsafe partial class NvmeController
{
    private readonly Dictionary<uint, NvmeNamespaceInfo> _namespaces = new();

    public int NamespaceTotal
    {
        get
        {
            lock (_namespaces)
            {
                return _namespaces.Count;
            }
        }
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

    /// <summary>Steps that read the active namespaces into <paramref name="found"/>, then
    /// call <paramref name="apply"/> with them.</summary>
    private void AddReadNamespacesSteps(NvmeSequence seq, Action<Dictionary<uint, NvmeNamespaceInfo>> apply)
    {
        var ids = new List<uint>();
        var found = new Dictionary<uint, NvmeNamespaceInfo>();
        int next = 0;
        bool inFlight = false;
        int status = 0;
        int listPhase = 0; // 0 not asked, 1 asked, 2 answered
        seq.Then("identify the active namespace list", () =>
            {
                if (listPhase == 0)
                {
                    listPhase = 1;
                    ids.Clear();
                    found.Clear();
                    next = 0;
                    _admin!.Submit(
                        new NvmeCommand { Opcode = NvmeSpec.AdminIdentify, Cdw10 = NvmeSpec.CnsActiveNamespaces },
                        NvmeData.Flat(_identifyBuffer, NvmeSpec.PageSize), (int rc, in NvmeCompletion _) =>
                        {
                            ReadIdList(rc);
                            listPhase = 2;
                        });
                }
                if (listPhase == 1)
                {
                    return StepResult.Again;
                }
                listPhase = 0;
                return StepResult.Next;
            })
            .Then("identify each namespace", () =>
            {
                while (true)
                {
                    if (inFlight)
                    {
                        return StepResult.Again;
                    }
                    if (status < 0)
                    {
                        return seq.Fail(status);
                    }
                    if (next >= ids.Count)
                    {
                        return StepResult.Next;
                    }
                    uint nsid = ids[next++];
                    inFlight = true;
                    _admin!.Submit(
                        new NvmeCommand { Opcode = NvmeSpec.AdminIdentify, Nsid = nsid, Cdw10 = NvmeSpec.CnsNamespace },
                        NvmeData.Flat(_identifyBuffer, NvmeSpec.PageSize), (int rc, in NvmeCompletion _) =>
                        {
                            inFlight = false;
                            status = rc;
                            if (rc == 0 && ReadNamespace(nsid, out NvmeNamespaceInfo info))
                            {
                                found[nsid] = info;
                            }
                        });
                }
            })
            .Then("apply the namespaces", () =>
            {
                apply(found);
                return StepResult.Next;
            });

        void ReadIdList(int rc)
        {
            status = 0;
            if (rc == 0)
            {
                uint* list = (uint*)_identifyBuffer;
                for (int i = 0; i < 1024 && list[i] != 0; i++)
                {
                    ids.Add(list[i]);
                }
                return;
            }
            // No active namespace list (NVMe 1.0): every namespace up to NN is asked.
            for (uint n = 1; n <= Math.Min(NamespaceCount, 1024u); n++)
            {
                ids.Add(n);
            }
        }
    }

    private void AddScanSteps(NvmeSequence seq) => AddReadNamespacesSteps(seq, found =>
    {
        lock (_namespaces)
        {
            _namespaces.Clear();
            foreach (var kv in found)
            {
                _namespaces[kv.Key] = kv.Value;
            }
        }
    });

    /// <summary>The namespace in the identify buffer: false when it is inactive or unusable.</summary>
    private bool ReadNamespace(uint nsid, out NvmeNamespaceInfo info)
    {
        info = default;
        byte* id = _identifyBuffer;
        ulong size = *(ulong*)(id + NvmeSpec.IdNsSize);
        if (size == 0)
        {
            return false;
        }
        byte flbas = id[NvmeSpec.IdNsFlbas];
        int format = (flbas & 0xF) | ((flbas >> 5) & 3) << 4;
        uint lbaf = *(uint*)(id + NvmeSpec.IdNsLbaf + 4 * format);
        int metadata = (int)(lbaf & 0xFFFF);
        int lbads = (int)((lbaf >> 16) & 0xFF);
        if (metadata != 0 || lbads < 9 || lbads > 16 || (1u << lbads) > MaxTransferBytes)
        {
            Log.Warn($"nvme {Address}: namespace {nsid} skipped: format with {1 << lbads}-byte blocks and " +
                     $"{metadata} bytes of metadata is not supported");
            return false;
        }
        var nguid = new ReadOnlySpan<byte>(id + NvmeSpec.IdNsNguid, 16);
        Guid uuid = nguid.IndexOfAnyExcept((byte)0) < 0 ? Guid.Empty : new Guid(nguid, bigEndian: true);
        info = new NvmeNamespaceInfo(nsid, 1u << lbads, size, uuid);
        return true;
    }

    /// <summary>An asynchronous event: a namespace change re-reads the namespaces (reading
    /// the changed-namespace log clears the event; the list is read whole, as the log may
    /// say "more than 1024 changed"); other notices have their log page read, which
    /// re-arms events of that type.</summary>
    private NvmeSequence AsyncEventSequence(uint dw0)
    {
        int type = (int)(dw0 & 7);
        int info = (int)((dw0 >> 8) & 0xFF);
        int logPage = (int)((dw0 >> 16) & 0xFF);
        var seq = new NvmeSequence("asynchronous event");
        if (type == NvmeSpec.AsyncEventTypeNotice && info == NvmeSpec.AsyncEventNoticeNamespaceChanged)
        {
            seq.Then("read the changed namespace log", Command(seq, () => new NvmeCommand
            {
                Opcode = NvmeSpec.AdminGetLogPage, Nsid = 0xFFFFFFFF,
                Cdw10 = NvmeSpec.LogChangedNamespaces | (uint)(NvmeSpec.PageSize / 4 - 1) << 16,
            }, NvmeData.Flat(_identifyBuffer, NvmeSpec.PageSize), optional: "changed namespace log not read"));
            AddReadNamespacesSteps(seq, NamespacesChanged);
            seq.OnDone(rc =>
            {
                if (rc != 0)
                {
                    Log.Error($"nvme {Address}: namespaces changed but cannot be read: {seq.Message}");
                }
            });
            return seq;
        }
        Log.Info($"nvme {Address}: asynchronous event type {type} info 0x{info:x2} log page 0x{logPage:x2}");
        if (logPage != 0)
        {
            seq.Then("read the event's log page", Command(seq, () => new NvmeCommand
            {
                Opcode = NvmeSpec.AdminGetLogPage, Nsid = 0xFFFFFFFF, Cdw10 = (uint)logPage | 127u << 16,
            }, NvmeData.Flat(_identifyBuffer, 512), optional: "event log page not read"));
        }
        return seq;
    }

    private void NamespacesChanged(Dictionary<uint, NvmeNamespaceInfo> now)
    {
        Dictionary<uint, NvmeNamespaceInfo> before;
        lock (_namespaces)
        {
            before = new Dictionary<uint, NvmeNamespaceInfo>(_namespaces);
            _namespaces.Clear();
            foreach (var kv in now)
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
                Log.Notice($"nvme {Address}: namespace {nsid} changed size: " +
                           $"{old.BlockCount} -> {current.BlockCount} blocks");
                NamespaceChanged?.Invoke(current);
            }
        }
        foreach (var (nsid, info) in now)
        {
            if (before.ContainsKey(nsid))
            {
                continue;
            }
            if (NamespaceAdded is { } added)
            {
                Log.Notice($"nvme {Address}: namespace {nsid} is active");
                added(info);
                continue;
            }
            string uri = Transport.Name == "pcie" ? $"pcie:///{Address}/{nsid}" : $"nvmf://{Address}?nsid={nsid}";
            Log.Notice($"nvme {Address}: namespace {nsid} is active: attach it with {uri}");
        }
    }
}
