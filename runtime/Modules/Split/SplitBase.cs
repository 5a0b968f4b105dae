using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Env;

namespace NativeBdev.Modules.Split;

/// <summary>The bdev a split cut into parts (SPDK's spdk_bdev_part_base): one writable
/// descriptor that claims it for the split module, shared by every part, closed when the last
/// part is destructed. The base going away takes every part with it.</summary>
internal sealed unsafe class SplitBase
{
    public readonly Bdev.Bdev Bdev;
    public readonly uint SplitCount;
    public readonly ulong SplitSizeMb;
    private readonly List<SplitPartBdev> _parts = new();
    private BdevDesc? _desc;
    private int _live;

    private static readonly object s_lock = new();
    private static readonly Dictionary<string, SplitBase> s_byBase = new();

    private SplitBase(Bdev.Bdev b, uint count, ulong sizeMb)
    {
        Bdev = b;
        SplitCount = count;
        SplitSizeMb = sizeMb;
    }

    public BdevDesc Desc => _desc!;

    public IReadOnlyList<SplitPartBdev> Parts => _parts;

    public static SplitBase? Find(string baseName)
    {
        lock (s_lock)
        {
            return s_byBase.GetValueOrDefault(baseName);
        }
    }

    public static SplitBase[] Snapshot()
    {
        lock (s_lock)
        {
            var all = new SplitBase[s_byBase.Count];
            s_byBase.Values.CopyTo(all, 0);
            return all;
        }
    }

    /// <summary>Opens and claims <paramref name="b"/>; the split is known by its base's name
    /// from here on (SPDK keeps one split config per base: a second is -EEXIST).</summary>
    public static int Open(Bdev.Bdev b, uint count, ulong sizeMb, out SplitBase? split)
    {
        split = null;
        lock (s_lock)
        {
            if (s_byBase.ContainsKey(b.Name))
            {
                return LastError.Set(Interop.Errno.EEXIST, $"bdev '{b.Name}' is already split");
            }
        }
        var s = new SplitBase(b, count, sizeMb);
        int rc = BdevRegistry.Open(b.Name, write: true, null, null, s.OnBaseEvent, out s._desc);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = BdevRegistry.Claim(s._desc!, "split")) != 0)
        {
            BdevRegistry.Close(s._desc!);
            return rc;
        }
        lock (s_lock)
        {
            if (!s_byBase.TryAdd(b.Name, s))
            {
                BdevRegistry.Close(s._desc!);
                return LastError.Set(Interop.Errno.EEXIST, $"bdev '{b.Name}' is already split");
            }
        }
        split = s;
        return 0;
    }

    public void Add(SplitPartBdev part)
    {
        _parts.Add(part);
        _live++;
    }

    /// <summary>A part is destructed: the last one releases the base.</summary>
    public void PartGone()
    {
        Invariant.Assert(_live > 0, "a split part released twice");
        if (--_live == 0)
        {
            Release();
        }
    }

    /// <summary>A creation that failed half-way: the parts registered so far go (the last
    /// one releases the base), or the base is released now if none was.</summary>
    public void Abandon()
    {
        if (_live == 0)
        {
            Release();
            return;
        }
        DestroyParts();
    }

    private void Release()
    {
        lock (s_lock)
        {
            s_byBase.Remove(Bdev.Name);
        }
        if (_desc != null && !_desc.Closed)
        {
            BdevRegistry.Close(_desc);
        }
    }

    /// <summary>bdev_split_delete and the base's removal: every part goes; the base is released
    /// once the last one's descriptors are closed.</summary>
    public void DestroyParts()
    {
        foreach (SplitPartBdev p in _parts.ToArray())
        {
            if (!p.Removing)
            {
                BdevRegistry.Destroy(p.Name, null);
            }
        }
    }

    private void OnBaseEvent(BdevEventType type, Bdev.Bdev b)
    {
        if (type == BdevEventType.Remove)
        {
            DestroyParts();
        }
    }
}
