using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>Pointer-free entry points into <see cref="BdevHandle"/> for async test code (an
/// await cannot sit in an unsafe context), and the driver that runs an async method on a
/// lightweight thread: started while the thread is bound, then continued inline by the
/// completions that the test's own polling delivers.</summary>
internal static unsafe class HandleIo
{
    public static ValueTask<int> Read(BdevHandle h, nint buf, ulong offset, ulong blocks) =>
        h.ReadAsync((void*)buf, offset, blocks);

    public static ValueTask<int> Write(BdevHandle h, nint buf, ulong offset, ulong blocks) =>
        h.WriteAsync((void*)buf, offset, blocks);

    public static ValueTask<int> Readv(BdevHandle h, IovArray iovs, ulong offset, ulong blocks) =>
        h.ReadvAsync(iovs.Pointer, iovs.Count, offset, blocks);

    public static ValueTask<int> Writev(BdevHandle h, IovArray iovs, ulong offset, ulong blocks) =>
        h.WritevAsync(iovs.Pointer, iovs.Count, offset, blocks);

    /// <summary>BdevHandle.Open with <paramref name="t"/> bound; rc and message.</summary>
    public static (int Rc, BdevHandle? Handle, string Message) TryOpen(LightweightThread? t, string name, bool write,
        Action<BdevEventType, BlockDevice>? onEvent = null)
    {
        LightweightThread? previous = LightweightThread.Current;
        LightweightThread.Bind(t);
        try
        {
            LastError.Clear();
            int rc = BdevHandle.Open(name, write, onEvent, out BdevHandle? h);
            return (rc, h, LastError.Message);
        }
        finally
        {
            LightweightThread.Bind(previous);
        }
    }

    public static BdevHandle Open(LightweightThread t, string name, bool write,
        Action<BdevEventType, BlockDevice>? onEvent = null)
    {
        var (rc, h, message) = TryOpen(t, name, write, onEvent);
        if (rc != 0)
        {
            throw new InvalidOperationException($"BdevHandle.Open('{name}'): {rc} ({message})");
        }
        return h!;
    }

    /// <summary>Disposes on the owning thread, then polls so the channel is released.</summary>
    public static void Dispose(LightweightThread t, BdevHandle h)
    {
        Bdevs.Bound(t, () =>
        {
            h.Dispose();
            return 0;
        });
        ThreadHost.Poll(t);
    }

    /// <summary>Starts <paramref name="start"/> with <paramref name="t"/> bound and polls
    /// <paramref name="t"/> until the task completes. Execution-context flow is suppressed
    /// while it starts, as on a reactor thread, so the continuations do not switch the test
    /// runner's context in and out.</summary>
    public static T Drive<T>(LightweightThread t, Func<Task<T>> start)
    {
        Task<T> task;
        using (ExecutionContext.SuppressFlow())
        {
            LightweightThread.Bind(t);
            try
            {
                task = start();
            }
            finally
            {
                LightweightThread.Bind(null);
            }
        }
        if (!ThreadHost.PollUntil(() => task.IsCompleted, t))
        {
            throw new TimeoutException("the async I/O sequence did not finish");
        }
        return task.GetAwaiter().GetResult();
    }
}
