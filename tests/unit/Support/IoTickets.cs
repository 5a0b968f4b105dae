using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;

namespace NativeBdev.Tests.Support;

/// <summary>Lets a test's completion handler keep the (context, tag) shape it likes over
/// the one completion ABI (<c>void cb(io, status, void *arg)</c>): the argument is a
/// GCHandle to a ticket naming the handler, freed when it runs. One allocation per I/O:
/// for behaviour tests, not for the zero-allocation ones.</summary>
internal static unsafe class IoTickets
{
    public static readonly nint Callback = (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnDone;

    private sealed class Ticket
    {
        public delegate*<BdevIo*, int, object?, nint, void> Handler;
        public object? Context;
        public nint Tag;
    }

    public static nint Arg(delegate*<BdevIo*, int, object?, nint, void> handler, object? context, nint tag) =>
        GCHandle.ToIntPtr(GCHandle.Alloc(new Ticket { Handler = handler, Context = context, Tag = tag }));

    /// <summary>Frees the ticket of an I/O that was refused (its callback will not run).</summary>
    public static int FreeIfRefused(int rc, nint arg)
    {
        if (rc != 0)
        {
            GCHandle.FromIntPtr(arg).Free();
        }
        return rc;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnDone(BdevIo* io, int status, void* arg)
    {
        GCHandle h = GCHandle.FromIntPtr((nint)arg);
        var t = (Ticket)h.Target!;
        h.Free();
        try
        {
            t.Handler(io, status, t.Context, t.Tag);
        }
        catch (Exception e)
        {
            // Nothing may be thrown back through a C callback: make it loud instead.
            System.Environment.FailFast("test completion handler threw: " + e);
        }
    }
}

/// <summary>Broken invariants fail the test that broke them, with the message and stack,
/// instead of aborting the test host.</summary>
internal static class InvariantHook
{
    [ModuleInitializer]
    internal static void Install() => Invariant.OnViolation = m => throw new InvariantViolation(m);
}

internal sealed class InvariantViolation(string message) : Exception("invariant violated: " + message);
