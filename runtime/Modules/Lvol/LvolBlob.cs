using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using NativeBdev.Blob;

namespace NativeBdev.Modules.Lvol;

/// <summary>A blob of a running store: what its metadata says, mutable. The metadata thread of the
/// store owns every field but <see cref="Clusters"/>, which the data path reads on any thread: an
/// entry changes from 0 to a cluster only after the metadata naming it is on disk (a reader that
/// sees the new cluster reads what was copied there, the same bytes as before), and a resize
/// replaces the array whole.</summary>
internal sealed class LvolBlob
{
    private uint[] _clusters;

    public LvolBlob(ulong id, uint[] clusters)
    {
        Id = id;
        _clusters = clusters;
    }

    public ulong Id { get; }

    /// <summary>Writes to the volume's own clusters submitted and not yet back, on every thread.</summary>
    public int WritesInFlight;

    /// <summary>Set while a snapshot (or a shrink) is made: new writes go by the allocator, which
    /// the metadata thread serves after.</summary>
    public bool Frozen;

    /// <summary>Freezes the blob if no write to its clusters is in flight: true, and the caller
    /// thaws it (<see cref="Frozen"/> = false) when done; false (not frozen) when one is.</summary>
    public bool TryFreeze()
    {
        Volatile.Write(ref Frozen, true);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref WritesInFlight) == 0)
        {
            return true;
        }
        Volatile.Write(ref Frozen, false);
        return false;
    }

    // Reads of the volume in flight, in two counters: a read counts itself in the one the phase
    // names when it starts (LvolReadDrain flips the phase when clusters are taken away).
    private int _readPhase;
    private int _reads0;
    private int _reads1;

    /// <summary>A read of the volume starts, on any thread: it is counted (under the phase it
    /// returns, which it hands to <see cref="ExitRead"/>) before it looks at any cluster map. The
    /// phase is read again after the count: if a flip came between, the read counts itself under
    /// the new phase instead, so a read counted under a phase always started after that phase was
    /// set, and saw every map published before it. Two atomics per read, no lock.</summary>
    public int EnterRead()
    {
        while (true)
        {
            int p = Volatile.Read(ref _readPhase);
            Interlocked.Increment(ref Reads(p));
            if (Volatile.Read(ref _readPhase) == p)
            {
                return p;
            }
            Interlocked.Decrement(ref Reads(p)); // a flip came between: rare, at most once per flip
        }
    }

    public void ExitRead(int phase) => Interlocked.Decrement(ref Reads(phase));

    /// <summary>On the metadata thread, after a map without some clusters is published: new reads
    /// count under the other phase from now on; the old phase's count only falls. Full fence after
    /// the flip: either a read's count is seen here (and waited for), or the read sees the new map.</summary>
    public int FlipReadPhase()
    {
        int old = _readPhase;
        Volatile.Write(ref _readPhase, 1 - old);
        Interlocked.MemoryBarrier();
        return old;
    }

    public bool ReadsDrained(int phase) => Volatile.Read(ref Reads(phase)) == 0;

    public int ReadsInFlight => Volatile.Read(ref _reads0) + Volatile.Read(ref _reads1);

    private ref int Reads(int phase) => ref phase == 0 ? ref _reads0 : ref _reads1;

    /// <summary>A deleted snapshot's clone that took its other clusters: the clone's reads may still
    /// be reading (through the old chain) the clusters freed with the snapshot.</summary>
    public LvolBlob? Heir { get; set; }

    /// <summary>Its first page is zeroed on disk; its pages and clusters go back once its bdev is gone.</summary>
    public bool Deleted { get; set; }

    /// <summary>md-region pages of the chain; [0] is the blob id's page.</summary>
    public uint[] Pages { get; set; } = [];

    /// <summary>Extent pages of an extent table read from disk; freed when the blob is next written
    /// (our writer stores clusters as EXTENT_RLE, which SPDK reads as well).</summary>
    public uint[] ExtentPages { get; set; } = [];

    public ulong InvalidFlags { get; set; }
    public ulong DataRoFlags { get; set; }
    public ulong MdRoFlags { get; set; }
    public List<(string Name, byte[] Value)> Xattrs { get; } = [];
    public List<(string Name, byte[] Value)> InternalXattrs { get; } = [];

    /// <summary>The blob this one is a clone of: reads of its unallocated clusters go there.</summary>
    public LvolBlob? Parent { get; set; }

    /// <summary>Clones of this blob (a snapshot has at least one).</summary>
    public List<LvolBlob> Clones { get; } = [];

    public uint[] Clusters
    {
        get => Volatile.Read(ref _clusters);
        set => Volatile.Write(ref _clusters, value);
    }

    public bool IsThin => (InvalidFlags & BlobFormat.ThinProvisioned) != 0;
    public bool IsReadOnly => DataRoFlags != 0;

    public long AllocatedClusters
    {
        get
        {
            long n = 0;
            foreach (uint c in Clusters)
            {
                n += c != 0 ? 1 : 0;
            }
            return n;
        }
    }

    /// <summary>The device cluster that holds logical cluster <paramref name="index"/>: its own, a
    /// parent's along the chain, or 0 (zeros). Bounded by the chain's depth, allocation-free.</summary>
    public uint Resolve(long index)
    {
        LvolBlob? b = this;
        for (int depth = 0; b != null && depth < 1024; depth++)
        {
            uint[] map = b.Clusters;
            if (index < map.Length && map[index] != 0)
            {
                return map[index];
            }
            b = b.Parent;
        }
        return 0;
    }

    public string? GetString(string name)
    {
        byte[]? v = Get(Xattrs, name);
        if (v == null)
        {
            return null;
        }
        int nul = Array.IndexOf(v, (byte)0);
        return Encoding.UTF8.GetString(v, 0, nul < 0 ? v.Length : nul);
    }

    /// <summary>Sets an xattr as SPDK's lvol code stores strings: the bytes and a NUL.</summary>
    public void SetString(string name, string value)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        Set(Xattrs, name, bytes);
    }

    public static byte[]? Get(List<(string Name, byte[] Value)> list, string name)
    {
        foreach (var (n, v) in list)
        {
            if (n == name)
            {
                return v;
            }
        }
        return null;
    }

    public static void Set(List<(string Name, byte[] Value)> list, string name, byte[] value)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Name == name)
            {
                list[i] = (name, value);
                return;
            }
        }
        list.Add((name, value));
    }

    public static void Remove(List<(string Name, byte[] Value)> list, string name) =>
        list.RemoveAll(x => x.Name == name);

    /// <summary>The runtime blob of a blob read from disk (parents linked by the store).</summary>
    public static LvolBlob From(BlobRecord r)
    {
        var b = new LvolBlob(r.Id, (uint[])r.Clusters.Clone())
        {
            Pages = r.Pages,
            ExtentPages = r.ExtentPages,
            InvalidFlags = r.InvalidFlags,
            DataRoFlags = r.DataRoFlags,
            MdRoFlags = r.MdRoFlags,
        };
        foreach (var (k, v) in r.Xattrs)
        {
            b.Xattrs.Add((k, v));
        }
        foreach (var (k, v) in r.InternalXattrs)
        {
            b.InternalXattrs.Add((k, v));
        }
        return b;
    }
}
