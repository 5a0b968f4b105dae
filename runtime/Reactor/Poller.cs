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
