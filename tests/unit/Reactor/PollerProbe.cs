using NativeBdev.Env;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

/// <summary>The context of a managed test poller: counts its runs, returns
/// <see cref="Result"/>, and can unregister itself on a given run.</summary>
internal sealed unsafe class PollerProbe
{
    public int Runs;
    public int Result = 1;
    public int UnregisterOnRun;
    public int UnregisterRc = int.MinValue;
    public int RegisterRc = int.MinValue;
    public Poller? Self;

    public static nint Function => (nint)(delegate*<object?, int>)&Run;

    private static int Run(object? ctx)
    {
        var p = (PollerProbe)ctx!;
        Volatile.Write(ref p.Runs, p.Runs + 1);
        if (p.Runs == p.UnregisterOnRun)
        {
            p.UnregisterRc = p.Self!.Thread.UnregisterPoller(p.Self);
        }
        return p.Result;
    }

    /// <summary>Registers this probe on the current thread; the return code is kept in
    /// <see cref="RegisterRc"/>.</summary>
    public int RegisterOnCurrent(long periodMicroseconds)
    {
        LightweightThread? t = LightweightThread.Current;
        RegisterRc = t == null
            ? int.MaxValue
            : t.RegisterPoller("probe", periodMicroseconds, Function, 0, this, managed: true, out Self);
        return RegisterRc;
    }

    /// <summary>Registers on <paramref name="t"/> from the host, with the thread bound.</summary>
    public Poller Register(LightweightThread t, long periodMicroseconds)
    {
        int rc = ThreadHost.OnThread(t, () => RegisterOnCurrent(periodMicroseconds));
        if (rc != 0)
        {
            throw new InvalidOperationException($"RegisterPoller: {rc} ({LastError.Message})");
        }
        return Self!;
    }
}
