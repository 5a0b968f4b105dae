using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Modules.Lvol;

namespace NativeBdev.Abi;

/// <summary>The lvol control functions: strings in, one call into the lvol module, which checks
/// that the caller is the store's metadata thread.</summary>
internal static unsafe class LvolExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_lvol_snapshot", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvolSnapshot(byte* lvol, byte* snapshot, byte* name, nuint nameLen) =>
        Snapshot(lvol, snapshot, name, nameLen);

    [UnmanagedCallersOnly(EntryPoint = "nbm_lvol_clone", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvolClone(byte* snapshot, byte* clone, byte* name, nuint nameLen) =>
        Clone(snapshot, clone, name, nameLen);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Snapshot(byte* lvol, byte* snapshot, byte* name, nuint nameLen)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Named(lvol, snapshot, "snapshot", name, nameLen, clone: false);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Clone(byte* snapshot, byte* clone, byte* name, nuint nameLen)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Named(snapshot, clone, "clone", name, nameLen, clone: true);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static int Named(byte* lvol, byte* newName, string what, byte* name, nuint nameLen, bool clone)
    {
        int rc = Volume(lvol, out LvolBdev? v);
        string? n = rc == 0 ? Guard.String(newName, what, out rc) : null;
        if (rc != 0 || n == null)
        {
            return rc != 0 ? rc : Guard.Null(what);
        }
        LvolBdev? made;
        rc = clone ? LvolSnapshots.Clone(v!, n, out made) : LvolSnapshots.Snapshot(v!, n, out made);
        if (rc == 0)
        {
            Guard.CopyOut(made!.Name, name, nameLen);
        }
        return rc;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_lvol_resize", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvolResize(byte* lvol, ulong sizeBytes) => Resize(lvol, sizeBytes);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Resize(byte* lvol, ulong sizeBytes)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Volume(lvol, out LvolBdev? v);
            return rc != 0 ? rc : LvolVolumes.Resize(v!, sizeBytes);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_lvol_inflate", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvolInflate(byte* lvol, int decouple) => Inflate(lvol, decouple);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Inflate(byte* lvol, int decouple)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Volume(lvol, out LvolBdev? v);
            return rc != 0 ? rc : LvolSnapshots.Inflate(v!, decouple != 0);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_lvol_set_read_only", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvolSetReadOnly(byte* lvol) => SetReadOnly(lvol);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SetReadOnly(byte* lvol)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Volume(lvol, out LvolBdev? v);
            return rc != 0 ? rc : LvolVolumes.SetReadOnly(v!);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_lvol_delete", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvolDelete(byte* lvol, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx) =>
        Delete(lvol, (nint)cb, (nint)ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Delete(byte* lvol, nint cb, nint ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            int rc = Volume(lvol, out LvolBdev? v);
            return rc != 0 ? rc : LvolVolumes.Delete(v!, StatusCallback.OnCallingThread(cb, ctx));
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_lvs_unload", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvsUnload(byte* lvs, int destroy, delegate* unmanaged[Cdecl]<void*, int, void> cb,
        void* ctx) => Unload(lvs, destroy, (nint)cb, (nint)ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Unload(byte* lvs, int destroy, nint cb, nint ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? n = Guard.String(lvs, "lvs", out int rc);
            if (rc != 0 || n == null)
            {
                return rc != 0 ? rc : Guard.Null("lvs");
            }
            if (LvolStore.Find(n) is not { } store)
            {
                return LastError.Set(Errno.ENODEV, $"no lvol store named '{n}' is loaded");
            }
            if ((rc = store.CheckOwner()) != 0)
            {
                return rc;
            }
            return store.Unload(destroy != 0, StatusCallback.OnCallingThread(cb, ctx));
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_lvs_check", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLvsCheck(byte* bdev, delegate* unmanaged[Cdecl]<void*, byte*, byte*, void> cb, void* ctx) =>
        Check(bdev, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Check(byte* bdev, delegate* unmanaged[Cdecl]<void*, byte*, byte*, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? n = Guard.String(bdev, "bdev", out int rc);
            if (rc != 0 || n == null)
            {
                return rc != 0 ? rc : Guard.Null("bdev");
            }
            if (!NbEnvironment.IsInitialized)
            {
                return NbEnvironment.NotInitialized();
            }
            if ((rc = LvolCheckBdev.Check(n, out LvolCheckReport? report)) != 0)
            {
                return rc;
            }
            if (cb != null)
            {
                foreach (LvolCheckFinding f in report!.Findings)
                {
                    Report(cb, ctx, f);
                }
            }
            return report!.Findings.Count;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    private static void Report(delegate* unmanaged[Cdecl]<void*, byte*, byte*, void> cb, void* ctx,
        LvolCheckFinding f)
    {
        nint kind = Marshal.StringToCoTaskMemUTF8(f.Kind);
        nint message = Marshal.StringToCoTaskMemUTF8(f.Message);
        try
        {
            cb(ctx, (byte*)kind, (byte*)message);
        }
        finally
        {
            Marshal.FreeCoTaskMem(kind);
            Marshal.FreeCoTaskMem(message);
        }
    }

    private static int Volume(byte* lvol, out LvolBdev? v)
    {
        v = null;
        string? n = Guard.String(lvol, "lvol", out int rc);
        if (rc != 0 || n == null)
        {
            return rc != 0 ? rc : Guard.Null("lvol");
        }
        if (!NbEnvironment.IsInitialized)
        {
            return NbEnvironment.NotInitialized();
        }
        v = LvolStoreOps.FindVolume(n);
        return v != null ? 0 : LastError.Set(Errno.ENODEV, $"no lvol '{n}' (a POOL/NAME or a UUID)");
    }
}
