using System;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Crypto;

/// <summary>One anonymous page for a key's expanded schedules, kept out of swap (mlock), out of
/// core dumps (MADV_DONTDUMP) and out of fork()ed children (MADV_WIPEONFORK: the child sees
/// zeroes), and zeroed before it is unmapped.
///
/// mlock failing (RLIMIT_MEMLOCK reached by an unprivileged process: the default 8 MiB also
/// covers DMA memory) is tolerated with a warning: refusing the key would stop the volume, and
/// SPDK itself keeps keys in ordinary heap memory. <see cref="Locked"/> says which it is.</summary>
internal sealed unsafe class LockedKeyPage
{
    public const int Size = 4096;

    private const int MadvDontDump = 16;
    private const int MadvWipeOnFork = 18;

    /// <summary>Test hook: called with the page after it is zeroed and before it is unmapped, so
    /// a test can read that the schedules are gone.</summary>
    internal static Action<nint, int>? BeforeUnmap;

    private nint _base;

    public byte* Base => (byte*)_base;

    public bool Locked { get; }

    private LockedKeyPage(byte* page, bool locked)
    {
        _base = (nint)page;
        Locked = locked;
    }

    /// <summary>Maps a zeroed page: 0, or -ENOMEM when the mapping itself fails.</summary>
    public static int TryMap(out LockedKeyPage? page)
    {
        page = null;
        byte* p = (byte*)Libc.mmap(null, Size, Libc.PROT_READ | Libc.PROT_WRITE,
            Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if ((nint)p == Libc.MAP_FAILED)
        {
            return -Errno.ENOMEM;
        }
        // Advice first, so no instant exists where the page holds keys and would be dumped.
        Libc.madvise(p, Size, MadvDontDump);
        Libc.madvise(p, Size, MadvWipeOnFork);
        bool locked = Libc.mlock(p, Size) == 0;
        if (!locked)
        {
            WarnUnlocked(Libc.LastErrno);
        }
        page = new LockedKeyPage(p, locked);
        return 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WarnUnlocked(int errno) =>
        Log.Warn($"crypto key schedule not locked in memory: mlock failed ({Libc.StrError(errno)}); " +
                 "raise RLIMIT_MEMLOCK (ulimit -l) to keep keys out of swap");

    /// <summary>Zeroes and unmaps the page; once, whoever calls first (Dispose or the finalizer).</summary>
    public void Release()
    {
        byte* p = (byte*)Interlocked.Exchange(ref _base, 0);
        if (p == null)
        {
            return;
        }
        Wipe(p, Size);
        BeforeUnmap?.Invoke((nint)p, Size);
        if (Locked)
        {
            Libc.munlock(p, Size);
        }
        Libc.munmap(p, Size);
    }

    /// <summary>Zeroes through volatile stores: the page is unmapped right after, and a plain
    /// clear of memory that is never read again is a dead store a compiler may remove.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
    public static void Wipe(byte* p, int length)
    {
        ulong* q = (ulong*)p;
        for (int i = 0; i < length / 8; i++)
        {
            Volatile.Write(ref q[i], 0UL);
        }
        for (int i = length & ~7; i < length; i++)
        {
            Volatile.Write(ref p[i], (byte)0);
        }
    }
}
