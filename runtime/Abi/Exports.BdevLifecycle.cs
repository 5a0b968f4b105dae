using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Creating, destroying and resizing bdevs.</summary>
internal static unsafe class BdevLifecycleExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevCreate(byte* uri, byte* name, nuint nameLen) => NbBdevCreateGuarded(uri, name, nameLen);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevCreateGuarded(byte* uri, byte* name, nuint nameLen)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
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

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_create_async", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevCreateAsync(byte* uri, delegate* unmanaged[Cdecl]<void*, int, byte*, void> cb, void* ctx)
        => NbBdevCreateAsyncGuarded(uri, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevCreateAsyncGuarded(byte* uri, delegate* unmanaged[Cdecl]<void*, int, byte*, void> cb,
        void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return CreateAsync(uri, cb, ctx);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CreateAsync(byte* uri, delegate* unmanaged[Cdecl]<void*, int, byte*, void> cb, void* ctx)
    {
        if (uri == null)
        {
            return Guard.Null("uri");
        }
        if (cb == null)
        {
            return Guard.Null("cb");
        }
        string? u = Guard.String(uri, "uri", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        nint callback = (nint)cb;
        nint context = (nint)ctx;
        return BdevCreation.Start(u!, (status, name) => CreateCallback.Invoke(callback, context, status, name));
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_destroy", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevDestroy(byte* name, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
        => NbBdevDestroyGuarded(name, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevDestroyGuarded(byte* name, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
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

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_resize", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevResize(byte* name, ulong numBlocks) => NbBdevResizeGuarded(name, numBlocks);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevResizeGuarded(byte* name, ulong numBlocks)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
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
            return (rc = BdevRegistry.FindLive(n, out Bdev.Bdev? b)) != 0 ? rc : b!.Resize(numBlocks);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
