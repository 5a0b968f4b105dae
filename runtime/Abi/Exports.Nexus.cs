using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Modules.Nexus;

namespace NativeBdev.Abi;

/// <summary>The nexus's control functions: strings in, one call into the nexus's core.</summary>
internal static unsafe class NexusExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusCreate(byte* name, ulong sizeBytes, byte** children, nuint count) =>
        NbNexusCreateGuarded(name, sizeBytes, children, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbNexusCreateGuarded(byte* name, ulong sizeBytes, byte** children, nuint count)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? n = Guard.String(name, "name", out int rc);
            if (rc != 0 || n == null)
            {
                return rc != 0 ? rc : Guard.Null("name");
            }
            if (children == null)
            {
                return Guard.Null("children");
            }
            if (count == 0 || count > NexusBdev.MaxChildren)
            {
                return LastError.Set(Errno.EINVAL, $"count {count} is not 1 .. {NexusBdev.MaxChildren}");
            }
            var uris = new string[(int)count];
            for (int i = 0; i < uris.Length; i++)
            {
                string? u = Guard.String(children[i], $"children[{i}]", out rc);
                if (rc != 0 || u == null)
                {
                    return rc != 0 ? rc : Guard.Null($"children[{i}]");
                }
                uris[i] = u;
            }
            if (!NbEnvironment.IsInitialized)
            {
                return NbEnvironment.NotInitialized();
            }
            return NexusModule.Create(n, sizeBytes, uris, Guid.NewGuid());
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_destroy", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusDestroy(byte* name, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx) =>
        NbNexusDestroyGuarded(name, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbNexusDestroyGuarded(byte* name, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Nexus(name, out NexusBdev? n);
            return rc != 0 ? rc : BdevRegistry.Destroy(n!.Name, StatusCallback.OnCallingThread((nint)cb, (nint)ctx));
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_set_event_cb", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusSetEventCb(byte* nexus,
        delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int, void*, void> cb, void* ctx) =>
        NbNexusSetEventCbGuarded(nexus, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbNexusSetEventCbGuarded(byte* nexus,
        delegate* unmanaged[Cdecl]<byte*, byte*, int, int, int, void*, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Nexus(nexus, out NexusBdev? n);
            if (rc == 0)
            {
                n!.SetEventCallback(cb, cb == null ? null : ctx);
            }
            return rc;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private enum Change
    {
        Add,
        Remove,
        Online,
        Fault,
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_add_child", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusAddChild(byte* nexus, byte* child) => AddGuarded(nexus, child);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AddGuarded(byte* nexus, byte* child)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Control(nexus, child, Change.Add, 0);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_remove_child", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusRemoveChild(byte* nexus, byte* child) => RemoveGuarded(nexus, child);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RemoveGuarded(byte* nexus, byte* child)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Control(nexus, child, Change.Remove, 0);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_online_child", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusOnlineChild(byte* nexus, byte* child) => OnlineGuarded(nexus, child);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int OnlineGuarded(byte* nexus, byte* child)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Control(nexus, child, Change.Online, 0);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_fault_child", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusFaultChild(byte* nexus, byte* child, int reason) => FaultGuarded(nexus, child, reason);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int FaultGuarded(byte* nexus, byte* child, int reason)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Control(nexus, child, Change.Fault, reason);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int Control(byte* nexus, byte* child, Change change, int reason)
    {
        int rc = Nexus(nexus, out NexusBdev? n);
        if (rc != 0)
        {
            return rc;
        }
        string? c = Guard.String(child, "child", out rc);
        if (rc != 0 || c == null)
        {
            return rc != 0 ? rc : Guard.Null("child");
        }
        if (change == Change.Fault && (reason <= (int)NexusFaultReason.None || reason > (int)NexusFaultReason.Offline))
        {
            return LastError.Set(Errno.EINVAL, $"reason {reason} is not a fault reason (1 .. 7)");
        }
        if ((rc = NexusModule.CheckThread()) != 0)
        {
            return rc;
        }
        return change switch
        {
            Change.Add => n!.AddChild(c),
            Change.Remove => n!.RemoveChild(c),
            Change.Online => n!.Online(c),
            _ => n!.Fault(c, (NexusFaultReason)reason),
        };
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_list_children", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusListChildren(byte* nexus, NbNexusChildInfo* children, int max) =>
        ListGuarded(nexus, children, max);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ListGuarded(byte* nexus, NbNexusChildInfo* children, int max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Nexus(nexus, out NexusBdev? n);
            if (rc != 0)
            {
                return rc;
            }
            if (max < 0)
            {
                return LastError.Set(Errno.EINVAL, $"max {max} is negative");
            }
            if (children == null && max > 0)
            {
                return Guard.Null("children");
            }
            var all = n!.Children();
            for (int i = 0; i < Math.Min(max, all.Count); i++)
            {
                NexusChild c = all[i];
                NbNexusChildInfo* o = &children[i];
                *o = default;
                Guard.CopyOut(c.Name, o->Name, 256);
                o->State = (int)c.State;
                o->Reason = (int)c.Reason;
                o->Synced = c.Synced ? 1 : 0;
                NexusRebuild? job = n.RebuildOf(c);
                o->Rebuilding = job != null ? 1 : 0;
                o->RebuildBlocksTotal = job?.BlocksTotal ?? 0;
                o->RebuildBlocksDone = job?.BlocksCopied ?? 0;
            }
            return all.Count;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private enum RebuildOp
    {
        Pause,
        Resume,
        Stop,
        Start,
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_rebuild_pause", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusRebuildPause(byte* nexus, byte* child) => RebuildPauseGuarded(nexus, child);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RebuildPauseGuarded(byte* nexus, byte* child)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Rebuild(nexus, child, RebuildOp.Pause);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_rebuild_resume", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusRebuildResume(byte* nexus, byte* child) => RebuildResumeGuarded(nexus, child);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RebuildResumeGuarded(byte* nexus, byte* child)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Rebuild(nexus, child, RebuildOp.Resume);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_rebuild_stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusRebuildStop(byte* nexus, byte* child) => RebuildStopGuarded(nexus, child);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RebuildStopGuarded(byte* nexus, byte* child)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Rebuild(nexus, child, RebuildOp.Stop);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_rebuild_start", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusRebuildStart(byte* nexus, byte* child) => RebuildStartGuarded(nexus, child);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RebuildStartGuarded(byte* nexus, byte* child)
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : Rebuild(nexus, child, RebuildOp.Start);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int Rebuild(byte* nexus, byte* child, RebuildOp op)
    {
        int rc = Nexus(nexus, out NexusBdev? n);
        if (rc != 0)
        {
            return rc;
        }
        string? c = Guard.String(child, "child", out rc);
        if (rc != 0 || c == null)
        {
            return rc != 0 ? rc : Guard.Null("child");
        }
        if (op == RebuildOp.Start && (rc = NexusModule.CheckThread()) != 0)
        {
            return rc;
        }
        return op switch
        {
            RebuildOp.Pause => n!.PauseRebuild(c),
            RebuildOp.Resume => n!.ResumeRebuild(c),
            RebuildOp.Stop => n!.StopRebuild(c),
            _ => n!.StartRebuild(c),
        };
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_set_rebuild_rate", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusSetRebuildRate(byte* nexus, ulong bytesPerSec) => RateGuarded(nexus, bytesPerSec);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RateGuarded(byte* nexus, ulong bytesPerSec)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Nexus(nexus, out NexusBdev? n);
            if (rc != 0)
            {
                return rc;
            }
            return bytesPerSec > long.MaxValue
                ? LastError.Set(Errno.EINVAL, $"rate {bytesPerSec} is more than {long.MaxValue} bytes per second")
                : n!.SetRebuildRate((long)bytesPerSec);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_set_rebuild_verify", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusSetRebuildVerify(byte* nexus, int verify) => VerifyGuarded(nexus, verify);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int VerifyGuarded(byte* nexus, int verify)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Nexus(nexus, out NexusBdev? n);
            if (rc != 0)
            {
                return rc;
            }
            if (verify is not (0 or 1))
            {
                return LastError.Set(Errno.EINVAL, $"verify {verify} is not 0 or 1");
            }
            n!.RebuildVerify = verify == 1;
            return 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nexus_rebuild_history", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNexusRebuildHistory(byte* nexus, NbNexusRebuildRecord* records, int max) =>
        HistoryGuarded(nexus, records, max);

    private static ulong EpochMicros(DateTime t) =>
        t <= DateTime.UnixEpoch ? 0 : (ulong)((t - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int HistoryGuarded(byte* nexus, NbNexusRebuildRecord* records, int max)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Nexus(nexus, out NexusBdev? n);
            if (rc != 0)
            {
                return rc;
            }
            if (max < 0)
            {
                return LastError.Set(Errno.EINVAL, $"max {max} is negative");
            }
            if (records == null && max > 0)
            {
                return Guard.Null("records");
            }
            NexusRebuildRecord[] all = n!.RebuildHistory();
            for (int i = 0; i < Math.Min(max, all.Length); i++)
            {
                NexusRebuildRecord r = all[i];
                NbNexusRebuildRecord* o = &records[i];
                *o = default;
                Guard.CopyOut(r.Child, o->Child, 256);
                Guard.CopyOut(r.SourceName ?? "", o->Source, 256);
                o->State = (int)r.State;
                o->Partial = r.Partial ? 1 : 0;
                o->BlocksTotal = r.BlocksTotal;
                o->BlocksCopied = r.BlocksCopied;
                o->StartUs = EpochMicros(r.Start);
                o->EndUs = EpochMicros(r.End);
            }
            return all.Length;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int Nexus(byte* name, out NexusBdev? nexus)
    {
        nexus = null;
        string? n = Guard.String(name, "nexus", out int rc);
        if (rc != 0 || n == null)
        {
            return rc != 0 ? rc : Guard.Null("nexus");
        }
        return NexusModule.Find(n, out nexus);
    }
}
