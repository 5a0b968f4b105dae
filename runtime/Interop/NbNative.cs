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

    /// <summary>nbd_do_it.c's struct nb_nbd_kernel_op: one kernel NBD ioctl on its own native
    /// thread; <see cref="Done"/> becomes 1 (release order) once it returned.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct NbdKernelOp
    {
        public int Fd;
        public int Done;
        public int Rc;
        public int Disconnect;
    }

    /// <summary>nbd_do_it.c: starts NBD_DO_IT (or NBD_DISCONNECT) on a detached native thread with
    /// every signal blocked; 0 or -errno.</summary>
    [LibraryImport(Lib, EntryPoint = "nb_native_nbd_kernel_start")]
    public static partial int NbdKernelStart(NbdKernelOp* op);
}
