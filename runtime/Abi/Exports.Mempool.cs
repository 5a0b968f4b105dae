using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

internal static unsafe class MempoolExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_mempool_create", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbMempoolCreate(byte* name, nuint count, nuint eleSize, nuint cacheSize)
        => NbMempoolCreateGuarded(name, count, eleSize, cacheSize);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbMempoolCreateGuarded(byte* name, nuint count, nuint eleSize, nuint cacheSize)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return Create(name, count, eleSize, cacheSize);
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint Create(byte* name, nuint count, nuint eleSize, nuint cacheSize)
    {
        DmaPool? dma = NbEnvironment.Dma;
        if (dma == null)
        {
            NbEnvironment.NotInitialized();
            return 0;
        }
        string? n = Guard.String(name, "name", out int rc);
        if (rc != 0)
        {
            return 0;
        }
        long c = count > int.MaxValue ? -1 : (long)count;
        long s = eleSize > int.MaxValue ? -1 : (long)eleSize;
        long k = cacheSize > int.MaxValue ? -1 : (long)cacheSize;
        return Mempool.Create(dma, n, c, s, k, out Mempool? pool) == 0 ? pool!.Handle : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_mempool_free", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbMempoolFree(nint mp) => NbMempoolFreeGuarded(mp);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbMempoolFreeGuarded(nint mp)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Mempool? pool = Guard.Resolve<Mempool>(mp, HandleType.Mempool, out int rc);
            return pool == null ? rc : pool.Free();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_mempool_get", CallConvs = [typeof(CallConvCdecl)])]
    public static void* NbMempoolGet(nint mp) => NbMempoolGetGuarded(mp);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* NbMempoolGetGuarded(nint mp)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return null;
            }
            Mempool? pool = HandleTable.Get<Mempool>(mp, HandleType.Mempool);
            if (pool == null)
            {
                Guard.Bad(mp, HandleType.Mempool);
                return null;
            }
            void* e = pool.Get();
            if (e == null)
            {
                LastError.Set(Errno.ENOMEM, "mempool is empty");
            }
            return e;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_mempool_put", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbMempoolPut(nint mp, void* ele) => NbMempoolPutGuarded(mp, ele);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbMempoolPutGuarded(nint mp, void* ele)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Mempool? pool = HandleTable.Get<Mempool>(mp, HandleType.Mempool);
            if (pool == null)
            {
                return Guard.Bad(mp, HandleType.Mempool);
            }
            if (!pool.Owns(ele))
            {
                return LastError.Set(Errno.EINVAL, "element does not belong to this mempool");
            }
            return pool.TryPut(ele) ? 0 : LastError.Set(Errno.EINVAL, "element is already in the mempool (double put)");
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_mempool_get_bulk", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbMempoolGetBulk(nint mp, void** arr, nuint count) => NbMempoolGetBulkGuarded(mp, arr, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbMempoolGetBulkGuarded(nint mp, void** arr, nuint count)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return GetBulk(mp, arr, count);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetBulk(nint mp, void** arr, nuint count)
    {
        Mempool? pool = Guard.Resolve<Mempool>(mp, HandleType.Mempool, out int rc);
        if (pool == null)
        {
            return rc;
        }
        if (arr == null)
        {
            return Guard.Null("ele_arr");
        }
        return pool.GetBulk(arr, count);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_mempool_put_bulk", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbMempoolPutBulk(nint mp, void** arr, nuint count) => NbMempoolPutBulkGuarded(mp, arr, count);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbMempoolPutBulkGuarded(nint mp, void** arr, nuint count)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return PutBulk(mp, arr, count);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int PutBulk(nint mp, void** arr, nuint count)
    {
        Mempool? pool = Guard.Resolve<Mempool>(mp, HandleType.Mempool, out int rc);
        if (pool == null)
        {
            return rc;
        }
        if (arr == null)
        {
            return Guard.Null("ele_arr");
        }
        return pool.PutBulk(arr, count);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_mempool_count", CallConvs = [typeof(CallConvCdecl)])]
    public static long NbMempoolCount(nint mp) => NbMempoolCountGuarded(mp);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long NbMempoolCountGuarded(nint mp)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Mempool? pool = Guard.Resolve<Mempool>(mp, HandleType.Mempool, out int rc);
            return pool == null ? rc : pool.Available;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
