using NativeBdev.Env;

namespace NativeBdev.Reactor;

/// <summary>A function a thread calls on every poll (period 0) or every period. It returns
/// a positive number when it did work (SPDK_POLLER_BUSY) and 0 when idle.</summary>
internal sealed unsafe class Poller
{
    public readonly LightweightThread Thread;
    public readonly string Name;
    public readonly long PeriodTicks;
    public long NextRunTicks;
    public PollerState State;
    public nint Handle;
    public long RunCount;
    public long BusyCount;

    // Either a C function int fn(void *arg) or a managed static int fn(object? ctx).
    private readonly nint _function;
    private readonly nint _argument;
    private readonly object? _context;
    private readonly bool _managed;

    public Poller(LightweightThread thread, string name, long periodTicks, nint function, nint argument,
        object? context, bool managed)
    {
        Thread = thread;
        Name = name;
        PeriodTicks = periodTicks;
        _function = function;
        _argument = argument;
        _context = context;
        _managed = managed;
        NextRunTicks = Ticks.Now + periodTicks;
    }

    /// <summary>The owner's own pause (on its thread, between or inside polls): the poll loop
    /// skips it until <see cref="Wake"/>. Unlike nb_poller_pause, no checks: internal callers only.</summary>
    internal void Sleep()
    {
        Invariant.Assert(State != PollerState.Unregistered, "an unregistered poller put to sleep");
        State = PollerState.Paused;
    }

    /// <summary>The owner wakes its own sleeping poller, on its thread: a plain store.</summary>
    internal void WakeOnOwnThread()
    {
        Invariant.Assert(State != PollerState.Unregistered, "an unregistered poller woken");
        State = PollerState.Running;
    }

    /// <summary>Runs a sleeping poller again from any thread (the thread's reactor is told, in case
    /// it sleeps too). An unregistered or running poller is left alone.</summary>
    internal void Wake()
    {
        ref int state = ref System.Runtime.CompilerServices.Unsafe.As<PollerState, int>(ref State);
        if (System.Threading.Interlocked.CompareExchange(ref state, (int)PollerState.Running,
                (int)PollerState.Paused) == (int)PollerState.Paused)
        {
            Thread.Reactor?.NotifyMessage();
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public int Run()
    {
        RunCount++;
        int rc = _managed
            ? ((delegate*<object?, int>)_function)(_context)
            : ((delegate* unmanaged[Cdecl]<void*, int>)_function)((void*)_argument);
        if (rc > 0)
        {
            BusyCount++;
        }
        return rc > 0 ? 1 : 0;
    }
}
