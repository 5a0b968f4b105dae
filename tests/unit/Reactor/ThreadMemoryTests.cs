using System.Runtime.CompilerServices;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Reactor;

/// <summary>What a thread costs and gives back: its ring takes memory as messages arrive, and a
/// destroyed thread, ring chunks and all, is unreachable (the runtime's heap reuses it; the C
/// test tests/c/test_thread_memory.c measures the resident side).</summary>
[NotInParallel(Keys.Threads)]
public class ThreadMemoryTests
{
    [Test]
    public async Task A_new_thread_allocates_well_under_64_KiB()
    {
        using var host = new ThreadHost();
        host.Create("warm-up");
        long before = GC.GetAllocatedBytesForCurrentThread();
        LightweightThread t = host.Create("small");
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        ThreadHost.Poll(t);

        await Assert.That(bytes).IsLessThan(16 * 1024); // the ring alone was 640 KiB
    }

    [Test]
    public async Task Destroyed_threads_and_their_rings_are_unreachable()
    {
        WeakReference[] threads = CreateUseAndDestroy(50);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        int alive = threads.Count(w => w.IsAlive);

        await Assert.That(alive).IsEqualTo(0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe WeakReference[] CreateUseAndDestroy(int n)
    {
        var refs = new WeakReference[n];
        using var host = new ThreadHost();
        for (int i = 0; i < n; i++)
        {
            LightweightThread t = host.Create($"gone{i}");
            for (int k = 0; k < 1000; k++) // four chunks of the ring
            {
                t.Send(&Nothing, null);
            }
            ThreadHost.Poll(t, 1000);
            refs[i] = new WeakReference(t);
            if (ThreadHost.ExitAndDestroy(t) != 0)
            {
                throw new InvalidOperationException($"thread {i} did not go");
            }
        }
        return refs;
    }

    private static void Nothing(object? context, nint arg)
    {
    }
}
