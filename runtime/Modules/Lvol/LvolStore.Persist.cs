using System.Collections.Generic;
using NativeBdev.Blob;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

internal sealed unsafe partial class LvolStore
{
    /// <summary>Plans the writes of <paramref name="blob"/>'s metadata as it is in memory now:
    /// 0 and the plan (its new pages reserved), or -errno (-ENOSPC: the metadata region is full).</summary>
    public int Plan(LvolBlob blob, out LvolMdPlan? plan) => Plan(blob, blob.Clusters, out plan);

    public int Plan(LvolBlob blob, uint[] clusters, out LvolMdPlan? plan)
    {
        plan = null;
        int rc = LvolBlobSerializer.Serialize(blob, clusters, out List<byte[]> areas);
        if (rc != 0)
        {
            return rc;
        }
        var p = new LvolMdPlan(blob);
        var chain = new uint[areas.Count];
        chain[0] = blob.Pages[0];
        for (int i = 1; i < chain.Length; i++)
        {
            long free = UsedPages.FindClear(0);
            if (free < 0)
            {
                p.Abort(UsedPages);
                return LastError.Set(Errno.ENOSPC, $"lvol store '{Name}': the metadata region " +
                    $"({Super.MdLength} pages) is full");
            }
            UsedPages.Set(free);
            p.Reserved.Add((uint)free);
            chain[i] = (uint)free;
        }
        for (int i = chain.Length - 1; i >= 0; i--)
        {
            uint next = i + 1 < chain.Length ? chain[i + 1] : BlobFormat.InvalidPage;
            p.Writes.Add((MdOffset(chain[i]), LvolBlobSerializer.Page(blob.Id, (uint)i, areas[i], next)));
        }
        for (int i = 1; i < blob.Pages.Length; i++)
        {
            p.FreeAfter.Add(blob.Pages[i]);
        }
        p.FreeAfter.AddRange(blob.ExtentPages);
        p.Chain = chain;
        plan = p;
        return 0;
    }

    public long MdOffset(uint page) => ((long)Super.MdStart + page) * BlobFormat.PageSize;

    /// <summary>Persists <paramref name="blob"/> now, synchronously (the management paths).</summary>
    public int Persist(LvolMdIo io, LvolBlob blob) => Persist(io, blob, blob.Clusters);

    public int Persist(LvolMdIo io, LvolBlob blob, uint[] clusters)
    {
        int rc = Plan(blob, clusters, out LvolMdPlan? plan);
        if (rc != 0)
        {
            return rc;
        }
        foreach (var (offset, page) in plan!.Writes)
        {
            if ((rc = io.Write(offset, page)) != 0)
            {
                plan.Abort(UsedPages);
                return rc;
            }
        }
        plan.Commit(UsedPages);
        return 0;
    }

    /// <summary>Takes a free page of the metadata region as a new blob's first page: its index
    /// names the blob (id = 2^32 | index). -ENOSPC when the region is full.</summary>
    public int ReserveBlobId(out ulong id)
    {
        id = 0;
        long free = UsedPages.FindClear(0);
        if (free < 0)
        {
            return LastError.Set(Errno.ENOSPC, $"lvol store '{Name}': no free metadata page for a new volume");
        }
        UsedPages.Set(free);
        UsedBlobIds.Set(free);
        id = BlobFormat.PageToBlobId((uint)free);
        return 0;
    }

    /// <summary>Takes <paramref name="count"/> free clusters into <paramref name="into"/>
    /// from <paramref name="at"/> on; -ENOSPC (nothing taken) when the store has fewer free.</summary>
    public int ReserveClusters(uint[] into, int at, int count)
    {
        if (count > FreeClusters)
        {
            return LastError.Set(Errno.ENOSPC, $"lvol store '{Name}' has {FreeClusters} free clusters, " +
                $"{count} are needed");
        }
        long from = 0;
        for (int i = 0; i < count; i++)
        {
            long c = UsedClusters.FindClear(from);
            Invariant.Assert(c > 0, "the free cluster count and the mask disagree");
            UsedClusters.Set(c);
            into[at + i] = (uint)c;
            from = c + 1;
        }
        return 0;
    }

    public void ReleaseClusters(uint[] map, int from)
    {
        for (int i = from; i < map.Length; i++)
        {
            if (map[i] != 0)
            {
                UsedClusters.Clear(map[i]);
            }
        }
    }

    /// <summary>Frees the clusters of <paramref name="map"/> from <paramref name="from"/> on, which a
    /// published map of <paramref name="blob"/> named until now, once no read that may still read
    /// them is in flight (<see cref="LvolReadDrain"/>).</summary>
    public void FreeAfterReads(LvolBlob blob, uint[] map, int from, LvolClearMethod clear)
    {
        var devices = new List<uint>();
        for (int i = from; i < map.Length; i++)
        {
            if (map[i] != 0)
            {
                devices.Add(map[i]);
            }
        }
        Drain.Free(blob, devices, clear);
    }

    /// <summary>Forgets a blob that was deleted: its pages, id and clusters go back (the clusters
    /// once reads that may still read them are back, and cleared first with the blob's clear method
    /// unless <paramref name="clear"/> is false: a blob that never had a bdev).</summary>
    public void ReleaseBlob(LvolBlob blob, bool clear = true)
    {
        foreach (uint p in blob.Pages)
        {
            UsedPages.Clear(p);
        }
        foreach (uint p in blob.ExtentPages)
        {
            UsedPages.Clear(p);
        }
        UsedBlobIds.Clear(BlobFormat.BlobIdToPage(blob.Id));
        FreeAfterReads(blob, blob.Clusters, 0, clear ? LvolClear.Of(blob) : LvolClearMethod.None);
        Blobs.Remove(blob.Id);
    }
}
