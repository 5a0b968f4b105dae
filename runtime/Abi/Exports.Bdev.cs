using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>struct nb_bdev_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NbBdevInfo
{
    public nuint InfoSize;
    public fixed byte Name[256];
    public fixed byte Uuid[40];
    public fixed byte ProductName[64];
    public fixed byte Driver[32];
    public uint BlockSize;
    public uint RequiredAlignment;
    public ulong NumBlocks;
    public ulong SizeBytes;
    public uint OptimalIoBoundary;
    public int WriteCache;
    public uint IoTypes;
    public int Claimed;
    public int OpenDescriptors;
    public int Reserved;
}

/// <summary>struct nb_bdev_io_stat.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NbBdevIoStat
{
    public nuint StatSize;
    public ulong BytesRead, NumReadOps, BytesWritten, NumWriteOps, BytesUnmapped, NumUnmapOps;
    public ulong BytesZeroed, NumWriteZeroesOps, NumFlushOps, NumResetOps;
    public ulong ReadLatencyTicks, MinReadLatencyTicks, MaxReadLatencyTicks;
    public ulong WriteLatencyTicks, MinWriteLatencyTicks, MaxWriteLatencyTicks;
    public ulong UnmapLatencyTicks, MinUnmapLatencyTicks, MaxUnmapLatencyTicks;
    public ulong NumReadErrors, NumWriteErrors, NumOtherErrors;
    public ulong TicksRate, QueueDepth;
    public ulong NumOps, LatencyTicks, MinLatencyTicks, MaxLatencyTicks;
}

/// <summary>struct nb_bdev_media_event.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NbBdevMediaEvent
{
    public ulong OffsetBlocks;
    public ulong NumBlocks;
}

/// <summary>Bdev control exports: create, destroy, look-up, open/close, claims, stats,
/// events.</summary>
internal static unsafe class BdevExports
{
    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevCreate(byte* uri, byte* name, nuint nameLen) => NbBdevCreateGuarded(uri, name, nameLen);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevCreateGuarded(byte* uri, byte* name, nuint nameLen)
    {
        try
        {
            return Create(uri, name, nameLen);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Create(byte* uri, byte* name, nuint nameLen)
    {
        if (uri == null)
        {
            return Guard.Null("uri");
        }
        string? u = Guard.String(uri, "uri", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        if ((rc = BdevFactory.Create(u, out string? created)) != 0)
        {
            return rc;
        }
        Guard.CopyOut(created!, name, nameLen);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_destroy", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevDestroy(byte* name, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
        => NbBdevDestroyGuarded(name, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevDestroyGuarded(byte* name, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
    {
        try
        {
            return Destroy(name, cb, ctx);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Destroy(byte* name, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
    {
        string? n = Guard.String(name, "name", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        if (n == null)
        {
            return Guard.Null("name");
        }
        return BdevRegistry.Destroy(n, StatusCallback.OnCallingThread((nint)cb, (nint)ctx));
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_resize", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevResize(byte* name, ulong numBlocks) => NbBdevResizeGuarded(name, numBlocks);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevResizeGuarded(byte* name, ulong numBlocks)
    {
        try
        {
            string? n = Guard.String(name, "name", out int rc);
            if (rc != 0)
            {
                return rc;
            }
            Bdev.Bdev? b = n == null ? null : BdevRegistry.Find(n);
            return b == null ? LastError.Set(Errno.ENODEV, $"no bdev named '{n}'") : b.Resize(numBlocks);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_by_name", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevGetByName(byte* name) => NbBdevGetByNameGuarded(name);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevGetByNameGuarded(byte* name)
    {
        try
        {
            string? n = Guard.String(name, "name", out int rc);
            if (rc != 0)
            {
                return 0;
            }
            if (n == null)
            {
                Guard.Null("name");
                return 0;
            }
            Bdev.Bdev? b = BdevRegistry.Find(n);
            if (b == null)
            {
                LastError.Set(Errno.ENODEV, $"no bdev named '{n}'");
                return 0;
            }
            return b.Handle;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_first", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevFirst() => NbBdevFirstGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevFirstGuarded()
    {
        try
        {
            Bdev.Bdev[] all = BdevRegistry.Snapshot();
            return all.Length > 0 ? all[0].Handle : 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_next", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevNext(nint prev) => NbBdevNextGuarded(prev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevNextGuarded(nint prev)
    {
        try
        {
            Bdev.Bdev? p = Guard.Resolve<Bdev.Bdev>(prev, HandleType.Bdev, out _);
            if (p == null)
            {
                return 0;
            }
            Bdev.Bdev[] all = BdevRegistry.Snapshot();
            int i = Array.IndexOf(all, p);
            return i >= 0 && i + 1 < all.Length ? all[i + 1].Handle : 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_name", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* NbBdevGetName(nint bdev) => NbBdevGetNameGuarded(bdev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* NbBdevGetNameGuarded(nint bdev)
    {
        try
        {
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out _);
            return b == null ? null : b.NameUtf8;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_block_size", CallConvs = [typeof(CallConvCdecl)])]
    public static uint NbBdevGetBlockSize(nint bdev) => NbBdevGetBlockSizeGuarded(bdev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint NbBdevGetBlockSizeGuarded(nint bdev)
    {
        try
        {
            return Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out _)?.BlockSize ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_num_blocks", CallConvs = [typeof(CallConvCdecl)])]
    public static ulong NbBdevGetNumBlocks(nint bdev) => NbBdevGetNumBlocksGuarded(bdev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong NbBdevGetNumBlocksGuarded(nint bdev)
    {
        try
        {
            return Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out _)?.BlockCount ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_io_type_supported", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevIoTypeSupported(nint bdev, int type) => NbBdevIoTypeSupportedGuarded(bdev, type);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevIoTypeSupportedGuarded(nint bdev, int type)
    {
        try
        {
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            if (b == null)
            {
                return rc;
            }
            return type > 0 && type < (int)BdevIoType.Count && b.Supported[type] ? 1 : 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_info", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetInfo(nint bdev, NbBdevInfo* info) => NbBdevGetInfoGuarded(bdev, info);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetInfoGuarded(nint bdev, NbBdevInfo* info)
    {
        try
        {
            return GetInfo(bdev, info);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetInfo(nint bdev, NbBdevInfo* info)
    {
        Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
        if (b == null)
        {
            return rc;
        }
        if (info == null)
        {
            return Guard.Null("info");
        }
        nuint size = info->InfoSize;
        if (Guard.CheckStructSize(size, "info->info_size", "nb_bdev_info") is int rc0 && rc0 != 0)
        {
            return rc0;
        }
        NbBdevInfo v = default;
        v.InfoSize = (nuint)Math.Min((long)size, sizeof(NbBdevInfo));
        Guard.CopyOut(b.Name, v.Name, 256);
        Guard.CopyOut(b.Uuid.ToString(), v.Uuid, 40);
        Guard.CopyOut(b.ProductName, v.ProductName, 64);
        Guard.CopyOut(b.ModuleName, v.Driver, 32);
        v.BlockSize = b.BlockSize;
        v.RequiredAlignment = b.RequiredAlignment;
        v.NumBlocks = b.BlockCount;
        v.SizeBytes = b.SizeBytes;
        v.OptimalIoBoundary = b.OptimalIoBoundary;
        v.WriteCache = b.WriteCache ? 1 : 0;
        for (int t = 1; t < (int)BdevIoType.Count; t++)
        {
            if (b.Supported[t])
            {
                v.IoTypes |= 1u << t;
            }
        }
        v.Claimed = b.ClaimedBy != null ? 1 : 0;
        v.OpenDescriptors = b.Descriptors.Count;
        Buffer.MemoryCopy(&v, info, (long)size, (long)v.InfoSize);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_open_ext", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevOpenExt(byte* name, int write, delegate* unmanaged[Cdecl]<int, nint, void*, void> cb,
        void* ctx, nint* desc) => NbBdevOpenExtGuarded(name, write, cb, ctx, desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevOpenExtGuarded(byte* name, int write,
        delegate* unmanaged[Cdecl]<int, nint, void*, void> cb, void* ctx, nint* desc)
    {
        try
        {
            return Open(name, write, cb, ctx, desc);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Open(byte* name, int write, delegate* unmanaged[Cdecl]<int, nint, void*, void> cb, void* ctx,
        nint* desc)
    {
        if (desc == null)
        {
            return Guard.Null("desc");
        }
        *desc = 0;
        if (cb == null)
        {
            return LastError.Set(Errno.EINVAL, "event_cb is NULL (it is required, as in SPDK: a host must hear REMOVE)");
        }
        string? n = Guard.String(name, "name", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        if (n == null)
        {
            return Guard.Null("name");
        }
        rc = BdevRegistry.Open(n, write != 0, cb, ctx, null, out BdevDesc? d);
        if (rc == 0)
        {
            *desc = d!.Handle;
        }
        return rc;
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_close", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevClose(nint desc) => NbBdevCloseGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevCloseGuarded(nint desc)
    {
        try
        {
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            return d == null ? rc : BdevRegistry.Close(d);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_desc_get_bdev", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevDescGetBdev(nint desc) => NbBdevDescGetBdevGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevDescGetBdevGuarded(nint desc)
    {
        try
        {
            return Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out _)?.Bdev.Handle ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_claim", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevClaim(nint desc, byte* owner) => NbBdevClaimGuarded(desc, owner);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevClaimGuarded(nint desc, byte* owner)
    {
        try
        {
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            if (d == null)
            {
                return rc;
            }
            string? o = Guard.String(owner, "owner", out rc);
            return rc != 0 ? rc : BdevRegistry.Claim(d, o ?? "host");
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_release_claim", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevReleaseClaim(nint desc) => NbBdevReleaseClaimGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevReleaseClaimGuarded(nint desc)
    {
        try
        {
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            return d == null ? rc : BdevRegistry.ReleaseClaim(d);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_io_channel", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevGetIoChannel(nint desc) => NbBdevGetIoChannelGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevGetIoChannelGuarded(nint desc)
    {
        try
        {
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out _);
            if (d == null)
            {
                return 0;
            }
            return d.GetIoChannel(out IoChannel? ch) == 0 ? ch!.Handle : 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    // ---------------------------------------------------------------- statistics

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_io_stat", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetIoStat(nint bdev, NbBdevIoStat* stat) => NbBdevGetIoStatGuarded(bdev, stat);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetIoStatGuarded(nint bdev, NbBdevIoStat* stat)
    {
        try
        {
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            return b == null ? rc : FillStat(BdevStatistics.Of(b), stat);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_channel_get_io_stat", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevChannelGetIoStat(nint ch, NbBdevIoStat* stat) => NbBdevChannelGetIoStatGuarded(ch, stat);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevChannelGetIoStatGuarded(nint ch, NbBdevIoStat* stat)
    {
        try
        {
            IoChannel? c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out int rc);
            if (c == null)
            {
                return rc;
            }
            return (rc = BdevStatistics.Of(c, out BdevStatsReport r)) != 0 ? rc : FillStat(r, stat);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FillStat(in BdevStatsReport report, NbBdevIoStat* stat)
    {
        if (stat == null)
        {
            return Guard.Null("stat");
        }
        nuint size = stat->StatSize;
        if (Guard.CheckStructSize(size, "stat->stat_size", "nb_bdev_io_stat") is int rc0 && rc0 != 0)
        {
            return rc0;
        }
        BdevStats s = report.Stats;
        ref OpStats r = ref s.Ops[(int)BdevIoType.Read];
        ref OpStats w = ref s.Ops[(int)BdevIoType.Write];
        ref OpStats u = ref s.Ops[(int)BdevIoType.Unmap];
        ref OpStats z = ref s.Ops[(int)BdevIoType.WriteZeroes];
        OpStats all = report.All;
        var v = new NbBdevIoStat
        {
            StatSize = (nuint)Math.Min((long)size, sizeof(NbBdevIoStat)),
            BytesRead = r.Bytes, NumReadOps = r.Ops, BytesWritten = w.Bytes, NumWriteOps = w.Ops,
            BytesUnmapped = u.Bytes, NumUnmapOps = u.Ops, BytesZeroed = z.Bytes, NumWriteZeroesOps = z.Ops,
            NumFlushOps = s.Ops[(int)BdevIoType.Flush].Ops, NumResetOps = s.Ops[(int)BdevIoType.Reset].Ops,
            ReadLatencyTicks = r.LatencyTicks, MinReadLatencyTicks = r.MinLatencyTicks, MaxReadLatencyTicks = r.MaxLatencyTicks,
            WriteLatencyTicks = w.LatencyTicks, MinWriteLatencyTicks = w.MinLatencyTicks, MaxWriteLatencyTicks = w.MaxLatencyTicks,
            UnmapLatencyTicks = u.LatencyTicks, MinUnmapLatencyTicks = u.MinLatencyTicks, MaxUnmapLatencyTicks = u.MaxLatencyTicks,
            NumReadErrors = r.Errors, NumWriteErrors = w.Errors, NumOtherErrors = report.OtherErrors,
            TicksRate = (ulong)Ticks.Hz, QueueDepth = report.QueueDepth,
            NumOps = report.CompletedOps, LatencyTicks = all.LatencyTicks,
            MinLatencyTicks = all.MinLatencyTicks, MaxLatencyTicks = all.MaxLatencyTicks,
        };
        Buffer.MemoryCopy(&v, stat, (long)size, (long)v.StatSize);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_latency_percentiles", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetLatencyPercentiles(nint bdev, nint ch, double* pcts, ulong* ticks, int count)
        => NbBdevGetLatencyPercentilesGuarded(bdev, ch, pcts, ticks, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetLatencyPercentilesGuarded(nint bdev, nint ch, double* pcts, ulong* ticks, int count)
    {
        try
        {
            return Percentiles(bdev, ch, pcts, ticks, count);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Percentiles(nint bdev, nint ch, double* pcts, ulong* ticks, int count)
    {
        Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
        if (b == null)
        {
            return rc;
        }
        if (pcts == null || ticks == null)
        {
            return Guard.Null(pcts == null ? "percentiles" : "ticks");
        }
        if (count <= 0 || count > 1024)
        {
            return LastError.Set(Errno.EINVAL, $"count {count} must be 1 .. 1024");
        }
        IoChannel? c = null;
        if (ch != 0 && (c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out rc)) == null)
        {
            return rc;
        }
        return BdevStatistics.Percentiles(b, c, new ReadOnlySpan<double>(pcts, count), new Span<ulong>(ticks, count));
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_reset_io_stat", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevResetIoStat(nint bdev, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
        => NbBdevResetIoStatGuarded(bdev, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevResetIoStatGuarded(nint bdev, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
    {
        try
        {
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            if (b == null)
            {
                return rc;
            }
            return BdevStatistics.Reset(b, StatusCallback.Direct((nint)cb, (nint)ctx));
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    // ---------------------------------------------------------------- media events

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_notify_media_management", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevNotifyMediaManagement(nint bdev, ulong offset, ulong blocks)
        => NbBdevNotifyMediaManagementGuarded(bdev, offset, blocks);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevNotifyMediaManagementGuarded(nint bdev, ulong offset, ulong blocks)
    {
        try
        {
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out int rc);
            return b == null ? rc : BdevRegistry.NotifyMediaManagement(b, offset, blocks);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_bdev_get_media_events", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetMediaEvents(nint desc, NbBdevMediaEvent* events, nuint max)
        => NbBdevGetMediaEventsGuarded(desc, events, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetMediaEventsGuarded(nint desc, NbBdevMediaEvent* events, nuint max)
    {
        try
        {
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            if (d == null)
            {
                return rc;
            }
            if (events == null)
            {
                return Guard.Null("events");
            }
            int n = (int)Math.Min(max, 1024);
            var tmp = new (ulong, ulong)[n];
            int got = BdevRegistry.TakeMediaEvents(d.Bdev, tmp);
            for (int i = 0; i < got; i++)
            {
                events[i].OffsetBlocks = tmp[i].Item1;
                events[i].NumBlocks = tmp[i].Item2;
            }
            return got;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
