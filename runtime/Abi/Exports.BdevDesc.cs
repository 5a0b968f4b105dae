using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>Descriptors: open and close, the bdev behind one, claims, the io channel, timeouts.</summary>
internal static unsafe class BdevDescExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_open_ext", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevOpenExt(byte* name, int write, delegate* unmanaged[Cdecl]<int, nint, void*, void> cb,
        void* ctx, nint* desc) => NbBdevOpenExtGuarded(name, write, cb, ctx, desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevOpenExtGuarded(byte* name, int write,
        delegate* unmanaged[Cdecl]<int, nint, void*, void> cb, void* ctx, nint* desc)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
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
            return LastError.Set(Errno.EINVAL,
                "event_cb is NULL (it is required, as in SPDK: a host must hear REMOVE)");
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

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_close", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevClose(nint desc) => NbBdevCloseGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevCloseGuarded(nint desc)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            return d == null ? rc : BdevRegistry.Close(d);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_desc_get_bdev", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevDescGetBdev(nint desc) => NbBdevDescGetBdevGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevDescGetBdevGuarded(nint desc)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out _)?.Bdev.Handle ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_claim", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevClaim(nint desc, byte* owner) => NbBdevClaimGuarded(desc, owner);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevClaimGuarded(nint desc, byte* owner)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
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

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_release_claim", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevReleaseClaim(nint desc) => NbBdevReleaseClaimGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevReleaseClaimGuarded(nint desc)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            return d == null ? rc : BdevRegistry.ReleaseClaim(d);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_io_channel", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevGetIoChannel(nint desc) => NbBdevGetIoChannelGuarded(desc);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevGetIoChannelGuarded(nint desc)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
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

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_set_timeout", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevSetTimeout(nint desc, ulong timeoutUs, int abort,
        delegate* unmanaged[Cdecl]<void*, BdevIo*, void> cb, void* ctx)
        => NbBdevSetTimeoutGuarded(desc, timeoutUs, abort, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevSetTimeoutGuarded(nint desc, ulong timeoutUs, int abort,
        delegate* unmanaged[Cdecl]<void*, BdevIo*, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            BdevDesc? d = Guard.Resolve<BdevDesc>(desc, HandleType.BdevDesc, out int rc);
            if (d == null)
            {
                return rc;
            }
            return d.SetTimeout(timeoutUs, abort != 0, cb, ctx);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
