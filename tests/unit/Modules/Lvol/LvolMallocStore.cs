using NativeBdev.Bdev;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>An lvol store (1 MiB clusters) on a 32 MiB malloc bdev named with bdev:/// (so it outlives
/// the store: it can be checked after an unload and imported again), on a thread of its own.</summary>
internal sealed class LvolMallocStore : IDisposable
{
    public readonly LightweightThread T;
    public readonly string Pool = Bdevs.Unique("pu");
    public readonly string Base;
    private readonly ThreadHost _host = new();
    private bool _unloaded;

    /// <param name="storeQuery">more of the lvs URI's query (&amp;clear_method=...)</param>
    /// <param name="baseFill">a byte the whole base holds before the store is made (0: as it starts)</param>
    public LvolMallocStore(string storeQuery = "", byte baseFill = 0)
    {
        T = _host.Create("lvol-malloc");
        Base = Bdevs.Bound(T, () => Bdevs.Malloc(Pool + "-base", "size_mb=32&blk_size=4096"));
        if (baseFill != 0)
        {
            FillBase(baseFill);
        }
        string disk = $"disk=bdev%3A%2F%2F%2F{Base}";
        Bdevs.Bound(T, () => Bdevs.Create($"lvs:///{Pool}?mode=create&cluster_size=1M&{disk}{storeQuery}"));
    }

    public const long BaseBytes = 32L << 20;

    private void FillBase(byte value)
    {
        var chunk = new byte[1 << 20];
        Array.Fill(chunk, value);
        for (long at = 0; at < BaseBytes; at += chunk.Length)
        {
            int rc = Run(Base, BdevIoType.Write, at, chunk, chunk.Length);
            if (rc != 0)
            {
                throw new InvalidOperationException($"fill {Base}: {rc}");
            }
        }
    }

    public LvolStore Lvs => LvolStore.Find(Pool)!;

    public string Volume(string name, int mib, bool thin, string extra = "") =>
        Bdevs.Bound(T, () => Bdevs.Create(
            $"lvol:///{name}?size={mib}M&thin={(thin ? 1 : 0)}{extra}&lvs=lvs:///{Pool}"));

    public int Run(string bdev, BdevIoType type, long offset, byte[]? data, long bytes)
    {
        BdevSession s = BdevSession.Open(T, bdev);
        try
        {
            using var buf = new DmaBuffer((int)Math.Max(bytes, 4096));
            data?.CopyTo(buf.Span);
            int rc = s.Run(type, type is BdevIoType.Write or BdevIoType.Read ? buf.Pointer : 0,
                (ulong)offset / s.Bdev.BlockSize, (ulong)bytes / s.Bdev.BlockSize);
            if (type == BdevIoType.Read && data != null)
            {
                buf.Span[..(int)bytes].CopyTo(data);
            }
            return rc;
        }
        finally
        {
            s.Close();
        }
    }

    public byte[] Read(string bdev, long offset, long bytes)
    {
        var data = new byte[bytes];
        int rc = Run(bdev, BdevIoType.Read, offset, data, bytes);
        return rc == 0 ? data : throw new InvalidOperationException($"read {bdev}: {rc}");
    }

    /// <summary>Unloads the store (written clean) and waits until it is closed.</summary>
    public void Unload()
    {
        bool done = false;
        Bdevs.Bound(T, () => Lvs.Unload(false, _ => done = true));
        ThreadHost.PollUntil(() => done, T);
        _unloaded = true;
    }

    /// <summary>Brings the store on the base up again.</summary>
    public void Import()
    {
        Bdevs.Bound(T, () => Bdevs.Create($"lvs:///{Pool}?mode=import&disk=bdev%3A%2F%2F%2F{Base}"));
        _unloaded = false;
    }

    /// <summary>Unloads (written clean) and runs the checker on the base: its findings.</summary>
    public IReadOnlyList<LvolCheckFinding> UnloadAndCheck()
    {
        Unload();
        LvolCheckReport? report = null;
        int rc = Bdevs.Bound(T, () => LvolCheckBdev.Check(Base, out report));
        return rc == 0 ? report!.Findings : throw new InvalidOperationException($"check: {rc}");
    }

    public void Dispose()
    {
        if (!_unloaded)
        {
            Unload();
        }
        Bdevs.DestroyAndWait(Base, T);
        _host.Dispose();
    }
}
