using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Finding bdevs and reading what they are: by name, in order, name, geometry, I/O
/// types, the whole nb_bdev_info.</summary>
internal static unsafe class BdevQueryExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_by_name", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevGetByName(byte* name) => NbBdevGetByNameGuarded(name);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevGetByNameGuarded(byte* name)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
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
            return BdevRegistry.FindLive(n, out Bdev.Bdev? b) != 0 ? 0 : b!.Handle;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_first", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevFirst() => NbBdevFirstGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevFirstGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return BdevRegistry.First()?.Handle ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_next", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbBdevNext(nint prev) => NbBdevNextGuarded(prev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbBdevNextGuarded(nint prev)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            Bdev.Bdev? p = Guard.Resolve<Bdev.Bdev>(prev, HandleType.Bdev, out _);
            if (p == null)
            {
                return 0;
            }
            return BdevRegistry.Next(p)?.Handle ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_name", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* NbBdevGetName(nint bdev) => NbBdevGetNameGuarded(bdev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* NbBdevGetNameGuarded(nint bdev)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return null;
            }
            Bdev.Bdev? b = Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out _);
            return b == null ? null : b.NameUtf8;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_block_size", CallConvs = [typeof(CallConvCdecl)])]
    public static uint NbBdevGetBlockSize(nint bdev) => NbBdevGetBlockSizeGuarded(bdev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint NbBdevGetBlockSizeGuarded(nint bdev)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out _)?.BlockSize ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_num_blocks", CallConvs = [typeof(CallConvCdecl)])]
    public static ulong NbBdevGetNumBlocks(nint bdev) => NbBdevGetNumBlocksGuarded(bdev);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong NbBdevGetNumBlocksGuarded(nint bdev)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return Guard.Resolve<Bdev.Bdev>(bdev, HandleType.Bdev, out _)?.BlockCount ?? 0;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_io_type_supported", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevIoTypeSupported(nint bdev, int type) => NbBdevIoTypeSupportedGuarded(bdev, type);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevIoTypeSupportedGuarded(nint bdev, int type)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
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

    [UnmanagedCallersOnly(EntryPoint = "nbm_bdev_get_info", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbBdevGetInfo(nint bdev, NbBdevInfo* info) => NbBdevGetInfoGuarded(bdev, info);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbBdevGetInfoGuarded(nint bdev, NbBdevInfo* info)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
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
}
