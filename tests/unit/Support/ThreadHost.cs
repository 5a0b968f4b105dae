using System.Diagnostics;
using NativeBdev.Abi;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Tests.Support;

/// <summary>Drives lightweight threads from the test's own OS thread (library mode), and
/// exits and destroys every thread it created when disposed.</summary>
internal sealed class ThreadHost : IDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly List<LightweightThread> _threads = new();

    public LightweightThread Create(string name, int capacity = LightweightThread.DefaultMessageCapacity)
    {
        int rc = LightweightThread.Create(name, null, out LightweightThread? t, capacity);
        if (rc != 0)
        {
            throw new InvalidOperationException($"LightweightThread.Create: {rc} ({LastError.Message})");
        }
        _threads.Add(t!);
        return t!;
    }

    /// <summary>One poll with the poll claim held, as a reactor or nb_thread_poll does it.</summary>
    public static int Poll(LightweightThread t, int maxMessages = 0)
    {
        if (!t.TryEnterPoll())
        {
            throw new InvalidOperationException($"thread '{t.Name}' is polled elsewhere");
        }
        try
        {
            return t.Poll(maxMessages, 0);
        }
        finally
        {
            t.ExitPoll();
        }
    }

    /// <summary>Polls <paramref name="threads"/> round-robin until <paramref name="done"/>
    /// holds; false when the deadline passes first.</summary>
    public static bool PollUntil(Func<bool> done, params LightweightThread[] threads)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > Deadline)
            {
                return false;
            }
            foreach (LightweightThread t in threads)
            {
                Poll(t);
            }
        }
        return true;
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="t"/> bound to this OS
    /// thread (nb_set_thread). Synchronous on purpose: a binding must never leak across an
    /// await onto a pool thread.</summary>
    public static T OnThread<T>(LightweightThread t, Func<T> action)
    {
        LightweightThread.Bind(t);
        try
        {
            return action();
        }
        finally
        {
            LightweightThread.Bind(null);
        }
    }

    /// <summary>Requests exit, polls until exited and destroys; returns Destroy's result.</summary>
    public static int ExitAndDestroy(LightweightThread t)
    {
        t.RequestExit(); // -EALREADY when the test asked already: fine
        if (!PollUntil(() => t.IsExited, t))
        {
            throw new TimeoutException($"thread '{t.Name}' did not exit");
        }
        return t.Destroy();
    }

    public void Dispose()
    {
        LightweightThread.Bind(null);
        foreach (LightweightThread t in _threads)
        {
            if (HandleTable.Get<LightweightThread>(t.Handle, HandleType.Thread) == t)
            {
                ExitAndDestroy(t);
            }
        }
    }
}
