using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>The library does not survive fork(): the child has only the forking thread, and
/// the runtime's other threads (those a garbage collection waits for, the finalizer, the
/// reactors) are gone, so the child's first collection, or any wait for a reactor, never ends.
/// Every export therefore begins with <c>if (ForkGuard.InChild) return ...;</c>: in a child
/// it answers -ECHILD (NULL, 0 or NB_VTOPHYS_ERROR where the export returns those) and
/// nb_last_error() answers <see cref="Message"/>. That path allocates nothing, touches no
/// thread-local (a first touch allocates) and takes no lock: it is constants only.
/// runtime/Native/fork.c sets <see cref="s_child"/> from a pthread_atfork child handler;
/// tests/unit/Abi/ExportShape.cs checks that every export checks it first.</summary>
internal static unsafe class ForkGuard
{
    /// <summary>1 in the child of a fork() taken after the runtime started. A plain static of
    /// a class without a static constructor: the check costs one load and a branch.</summary>
    [SuppressMessage("Style", "IDE0044", Justification = "written by fork.c through its address")]
    private static int s_child;

    public const int Refused = -Errno.ECHILD;

    public static bool InChild => s_child != 0;

    /// <summary>What nb_last_error() says in a child: a constant in the image's data.</summary>
    public static byte* Message => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(
        "this process is the fork() child of a process that used libnativebdev, and the library does not "u8 +
        "survive fork (its runtime's other threads are gone): every call fails with -ECHILD; exec a new "u8 +
        "program or use the library in a process of its own\0"u8));

    /// <summary>Runs when the runtime starts, before the first export's body: from then on a
    /// fork()ed child is flagged. Under JIT (the unit tests) there is no C half and no flag.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the flag must be watched before any export runs")]
    internal static void Watch()
    {
        try
        {
            fixed (int* p = &s_child)
            {
                NbNative.WatchFork(p);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }
}
