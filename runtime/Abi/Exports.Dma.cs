using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>DMA memory: allocation from the pool, free, address translation.</summary>
internal static unsafe class DmaExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_dma_malloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* NbDmaMalloc(nuint size, nuint align, ulong* iova) => NbDmaMallocGuarded(size, align, iova);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* NbDmaMallocGuarded(nuint size, nuint align, ulong* iova)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return null;
            }
            return DmaAlloc(size, align, iova, zero: false);
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_dma_zmalloc", CallConvs = [typeof(CallConvCdecl)])]
    public static void* NbDmaZmalloc(nuint size, nuint align, ulong* iova) => NbDmaZmallocGuarded(size, align, iova);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* NbDmaZmallocGuarded(nuint size, nuint align, ulong* iova)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return null;
            }
            return DmaAlloc(size, align, iova, zero: true);
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return null;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void* DmaAlloc(nuint size, nuint align, ulong* iova, bool zero)
    {
        DmaPool? dma = NbEnvironment.Dma;
        if (dma == null)
        {
            NbEnvironment.NotInitialized();
            return null;
        }
        if (size == 0 || size > (1UL << 40))
        {
            LastError.Set(Errno.EINVAL, $"DMA allocation size {size} must be 1 .. 1 TiB");
            return null;
        }
        if (align > (nuint)DmaRegion.HugePageSize)
        {
            LastError.Set(Errno.EINVAL, $"DMA alignment {align} must be a power of two of at most 2 MiB");
            return null;
        }
        void* p = dma.Alloc((long)size, (long)align, zero);
        if (p != null && iova != null)
        {
            *iova = (ulong)dma.Translate(p, out _);
        }
        return p;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_dma_free", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbDmaFree(void* buf) => NbDmaFreeGuarded(buf);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbDmaFreeGuarded(void* buf)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return DmaFree(buf);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int DmaFree(void* buf)
    {
        if (buf == null)
        {
            return 0;
        }
        DmaPool? dma = NbEnvironment.Dma;
        // Without an environment no pointer is a DMA buffer: the header's -EINVAL for
        // "anything else", not the -EPERM of calls that need an environment.
        return dma != null ? dma.Free(buf) : LastError.Set(Errno.EINVAL,
            $"0x{(nint)buf:x} is not a DMA buffer: the environment is not initialized, so there are none");
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_vtophys", CallConvs = [typeof(CallConvCdecl)])]
    public static ulong NbVtophys(void* buf, ulong* size) => NbVtophysGuarded(buf, size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong NbVtophysGuarded(void* buf, ulong* size)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ulong.MaxValue;
            }
            return Vtophys(buf, size);
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return ulong.MaxValue;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong Vtophys(void* buf, ulong* size)
    {
        DmaPool? dma = NbEnvironment.Dma;
        if (dma == null)
        {
            NbEnvironment.NotInitialized();
            return ulong.MaxValue;
        }
        long iova = dma.Translate(buf, out long contiguous);
        if (iova < 0)
        {
            LastError.Set(Errno.EINVAL, $"0x{(nint)buf:x} is not in the DMA pool");
            return ulong.MaxValue;
        }
        if (size != null)
        {
            *size = Math.Min(*size, (ulong)contiguous);
        }
        return (ulong)iova;
    }
}
