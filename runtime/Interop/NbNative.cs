using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NativeBdev.Interop;

/// <summary>The library's own C functions (runtime/Native/*.c), linked into the same .so and
/// bound at link time through &lt;DirectPInvoke Include="nbnative"/&gt;. Under JIT (the unit
/// tests) there is no such library: callers catch <see cref="DllNotFoundException"/> and fall
/// back.</summary>
internal static unsafe partial class NbNative
{
    private const string Lib = "nbnative";

    /// <summary>fork.c: the address of the flag its fork() child handler sets.</summary>
    [LibraryImport(Lib, EntryPoint = "nb_native_watch_fork")]
    [SuppressGCTransition]
    public static partial void WatchFork(int* flag);

    /// <summary>ticks.c: the clock chosen at load (the rdtsc function, or null for
    /// CLOCK_MONOTONIC in nanoseconds) and its frequency.</summary>
    [LibraryImport(Lib, EntryPoint = "nb_native_clock")]
    [SuppressGCTransition]
    public static partial void* Clock(ulong* hz);

    /// <summary>nbd_do_it.c: ioctl(NBD_DO_IT) with every signal blocked on the calling
    /// thread; 0 or -errno. Blocks until the kernel device is disconnected.</summary>
    [LibraryImport(Lib, EntryPoint = "nb_native_nbd_do_it")]
    public static partial int NbdDoIt(int fd);
}
