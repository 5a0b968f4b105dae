using System.Collections.Concurrent;
using NativeBdev.Env;
using NativeBdev.Reactor;
using NativeBdev.Targets.Nvmf;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Targets;

/// <summary>Our NVMe/TCP target on a thread of its own, polled by an OS thread of its own (as
/// a reactor would), so that a test's initiator — whose bring-up waits on its calling OS thread
/// — talks to it over real sockets. Target calls run on that thread through <see cref="Run"/>.
/// With <c>pollGroups</c> above 1, the target spreads its I/O queues over that many threads,
/// each polled by an OS thread of its own (as reactors on several cores would).</summary>
internal sealed class NvmfTargetRunner : IDisposable
{
    private readonly Thread _os;
    private readonly ConcurrentQueue<Action> _work = new();
    private volatile bool _stop;
    private LightweightThread? _thread;
    private NvmfTarget? _target;
    private readonly List<(Thread Os, LightweightThread Thread)> _groups = new();

    public NvmfTargetRunner(NvmfTransportOptions? options = null, int pollGroups = 1)
    {
        TestEnv.Ensure();
        var ready = new ManualResetEventSlim();
        string? error = null;
        for (int i = 1; i < pollGroups; i++)
        {
            if (LightweightThread.Create($"nvmf-pg{i}", null, out LightweightThread? pg) != 0)
            {
                throw new InvalidOperationException($"poll group thread: {LastError.Message}");
            }
            var os = new Thread(() => PollGroupLoop(pg!)) { IsBackground = true, Name = $"nvmf-pg{i}-runner" };
            _groups.Add((os, pg!));
            os.Start();
        }
        LightweightThread[] threads = _groups.Select(g => g.Thread).ToArray(); // none: the target's thread alone
        _os = new Thread(() =>
        {
            if (LightweightThread.Create("nvmf-tgt", null, out _thread) != 0)
            {
                error = LastError.Message;
                ready.Set();
                return;
            }
            int rc = ThreadHost.OnThread(_thread!, () => NvmfTarget.Start(options, out _target,
                pollGroupThreads: threads));
            error = rc == 0 ? null : $"{rc} {LastError.Message}";
            ready.Set();
            while (!_stop)
            {
                while (_work.TryDequeue(out Action? a))
                {
                    ThreadHost.OnThread(_thread!, () =>
                    {
                        a();
                        return 0;
                    });
                }
                long before = GC.GetAllocatedBytesForCurrentThread();
                int polled = ThreadHost.Poll(_thread!);
                if (Measuring)
                {
                    Interlocked.Add(ref _allocated, GC.GetAllocatedBytesForCurrentThread() - before);
                }
                if (polled == 0)
                {
                    Thread.Yield();
                }
            }
            ThreadHost.OnThread(_thread!, () => _target?.Stop() ?? 0);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (_target != null && _target.ConnectionCount > 0 && sw.Elapsed < TimeSpan.FromSeconds(5))
            {
                ThreadHost.Poll(_thread!);
            }
            _stopGroups = true;
            ThreadHost.ExitAndDestroy(_thread!);
        })
        { IsBackground = true, Name = "nvmf-target-runner" };
        _os.Start();
        ready.Wait();
        if (error != null)
        {
            throw new InvalidOperationException($"target start: {error}");
        }
    }

    public NvmfTarget Target => _target!;

    private volatile bool _stopGroups;

    private void PollGroupLoop(LightweightThread t)
    {
        while (!_stopGroups)
        {
            if (ThreadHost.Poll(t) == 0)
            {
                Thread.Yield();
            }
        }
        ThreadHost.ExitAndDestroy(t);
    }

    private long _allocated;

    /// <summary>While set, the bytes the target's thread allocates in its polls are counted.</summary>
    public volatile bool Measuring;

    public long AllocatedWhileMeasuring => Interlocked.Read(ref _allocated);

    /// <summary>Runs <paramref name="f"/> on the target's thread; its result, and the
    /// message LastError held after it.</summary>
    public (T Result, string Message) Run<T>(Func<NvmfTarget, T> f)
    {
        var done = new ManualResetEventSlim();
        T result = default!;
        string message = "";
        _work.Enqueue(() =>
        {
            LastError.Clear();
            result = f(_target!);
            message = LastError.Message;
            done.Set();
        });
        if (!done.Wait(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException("the target's thread did not run the call");
        }
        return (result, message);
    }

    public int Check(Func<NvmfTarget, int> f)
    {
        (int rc, string message) = Run(f);
        if (rc < 0)
        {
            throw new InvalidOperationException($"target call failed: {rc} ({message})");
        }
        return rc;
    }

    /// <summary>A subsystem with one namespace over <paramref name="bdev"/>, listening on
    /// 127.0.0.1 on a port the kernel chooses; returns the port.</summary>
    public int Export(string nqn, string bdev, bool allowAnyHost = true)
    {
        Check(t => t.CreateSubsystem(nqn, null, "NativeBdev test ns", 0, 0, 0, allowAnyHost));
        // A UUID of its own: the initiator's bdev lives in this process too, and UUIDs are unique.
        Check(t => t.AddNamespace(nqn, bdev, 0, Guid.NewGuid(), null, 0));
        return Check(t => t.AddListener(nqn, "127.0.0.1", "0"));
    }

    public void Dispose()
    {
        _stop = true;
        _os.Join(TimeSpan.FromSeconds(15));
        _stopGroups = true;
        foreach ((Thread os, _) in _groups)
        {
            os.Join(TimeSpan.FromSeconds(10));
        }
    }
}
