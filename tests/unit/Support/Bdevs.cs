using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Support;

/// <summary>The process-wide environment the bdev tests need (malloc bdevs take their memory
/// from its DMA pool). Initialized once, without hugepages, and never torn down: other test
/// classes run in the same process.</summary>
internal static class TestEnv
{
    private static readonly object s_lock = new();

    public static void Ensure()
    {
        if (NbEnvironment.IsInitialized)
        {
            return;
        }
        lock (s_lock)
        {
            if (NbEnvironment.IsInitialized)
            {
                return;
            }
            int rc = NbEnvironment.Init(new EnvOptions { Name = "unit-tests", HugePages = 0 });
            if (rc != 0 && !NbEnvironment.IsInitialized)
            {
                throw new InvalidOperationException($"NbEnvironment.Init: {rc} ({LastError.Message})");
            }
        }
    }

    public static int DmaAllocations => NbEnvironment.Dma!.AllocationCount;
}

/// <summary>Creating, finding and destroying bdevs. The registry is global, so every test
/// names its bdevs with a unique suffix.</summary>
internal static class Bdevs
{
    public static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>BdevFactory.Create, with the rc and the message read on this OS thread.</summary>
    public static (int Rc, string? Name, string Message) TryCreate(string uri)
    {
        TestEnv.Ensure();
        LastError.Clear();
        int rc = BdevFactory.Create(uri, out string? name);
        return (rc, name, LastError.Message);
    }

    public static string Create(string uri)
    {
        var (rc, name, message) = TryCreate(uri);
        if (rc != 0)
        {
            throw new InvalidOperationException($"BdevFactory.Create('{uri}'): {rc} ({message})");
        }
        return name!;
    }

    public static string Malloc(string prefix, string query = "size_mb=4") =>
        Create($"malloc:///{Unique(prefix)}?{query}");

    public static string Null(string prefix, string query = "size_mb=4") =>
        Create($"null:///{Unique(prefix)}?{query}");

    public static BlockDevice Find(string name) =>
        BdevRegistry.Find(name) ?? throw new InvalidOperationException($"no bdev '{name}'");

    /// <summary>Destroys <paramref name="name"/> and polls <paramref name="threads"/> until
    /// its done callback has run; false if it never did.</summary>
    public static bool DestroyAndWait(string name, params LightweightThread[] threads)
    {
        bool done = false;
        int rc = BdevRegistry.Destroy(name, _ => done = true);
        if (rc != 0)
        {
            throw new InvalidOperationException($"BdevRegistry.Destroy('{name}'): {rc} ({LastError.Message})");
        }
        return threads.Length == 0 ? done : ThreadHost.PollUntil(() => done, threads);
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="t"/> bound, restoring the
    /// previous binding (which may be a thread being polled, when called from a callback).</summary>
    public static T Bound<T>(LightweightThread t, Func<T> action)
    {
        if (t.Enter(out bool claimed, out int previous) != 0)
        {
            throw new InvalidOperationException(LastError.Message);
        }
        try
        {
            return action();
        }
        finally
        {
            t.Leave(claimed, previous);
        }
    }
}

/// <summary>One completion as an <see cref="IoLog"/> saw it.</summary>
internal readonly record struct IoDone(nint Tag, int Status, BdevIoType Type, LightweightThread? Thread);

/// <summary>Records completions in order; the managed context of test I/Os.</summary>
internal sealed class IoLog
{
    public readonly List<IoDone> Done = new();

    public int Count => Done.Count;

    public string Order => string.Join(",", Done.Select(d => d.Tag));

    public string Statuses => string.Join(",", Done.Select(d => d.Status));

    public int StatusOf(nint tag) => Done.Single(d => d.Tag == tag).Status;

    public bool Has(nint tag) => Done.Any(d => d.Tag == tag);
}

/// <summary>An open descriptor plus this thread's channel on it, with the events the
/// descriptor received (and the thread each arrived on). Everything that needs a current
/// thread binds <see cref="Thread"/> for the call.</summary>
internal sealed unsafe class BdevSession
{
    public readonly LightweightThread Thread;
    public readonly BdevDesc Desc;
    public IoChannel? IoChannel { get; private set; }
    public readonly List<(BdevEventType Type, LightweightThread? On)> Events;

    public static readonly delegate*<BdevIo*, int, object?, nint, void> Handler = &OnDone;

    private BdevSession(LightweightThread t, BdevDesc desc, List<(BdevEventType, LightweightThread?)> events)
    {
        Thread = t;
        Desc = desc;
        Events = events;
    }

    public BlockDevice Bdev => Desc.Bdev;
    public BdevChannel Channel => (BdevChannel)IoChannel!.State!;

    public static int TryOpen(LightweightThread t, string name, bool write, out BdevSession? session,
        bool channel = true, Action<BdevEventType, BlockDevice>? onEvent = null)
    {
        session = null;
        var events = new List<(BdevEventType, LightweightThread?)>();
        Action<BdevEventType, BlockDevice> cb = (type, b) =>
        {
            events.Add((type, LightweightThread.Current));
            onEvent?.Invoke(type, b);
        };
        BdevDesc? desc = null;
        int rc = Bdevs.Bound(t, () => BdevRegistry.Open(name, write, null, null, cb, out desc));
        if (rc != 0)
        {
            return rc;
        }
        var s = new BdevSession(t, desc!, events);
        if (channel && (rc = s.GetChannel()) != 0)
        {
            s.CloseDesc();
            return rc;
        }
        session = s;
        return 0;
    }

    public static BdevSession Open(LightweightThread t, string name, bool write = true, bool channel = true,
        Action<BdevEventType, BlockDevice>? onEvent = null)
    {
        int rc = TryOpen(t, name, write, out BdevSession? s, channel, onEvent);
        if (rc != 0)
        {
            throw new InvalidOperationException($"open '{name}': {rc} ({LastError.Message})");
        }
        return s!;
    }

    public int GetChannel()
    {
        IoChannel? ch = null;
        int rc = Bdevs.Bound(Thread, () => IoChannel.Get(Desc.Bdev.IoDevice, out ch));
        IoChannel = ch;
        return rc;
    }

    /// <summary>Starts an I/O with one buffer (or none); the completion goes to
    /// <paramref name="log"/> under <paramref name="tag"/>. Returns Submit's rc.</summary>
    public int Submit(BdevIoType type, nint buf, ulong offset, ulong blocks, IoLog log, nint tag)
    {
        if (Thread.Enter(out bool claimed, out int previous) != 0)
        {
            throw new InvalidOperationException(LastError.Message);
        }
        try
        {
            nint arg = IoTickets.Arg(Handler, log, tag);
            return IoTickets.FreeIfRefused(
                Channel.Submit(Desc, type, null, 0, (void*)buf, offset, blocks, IoTickets.Callback, arg), arg);
        }
        finally
        {
            Thread.Leave(claimed, previous);
        }
    }

    /// <summary>Starts a vectored I/O; <paramref name="iovs"/> must stay alive until it completes.</summary>
    public int SubmitV(BdevIoType type, IovArray iovs, ulong offset, ulong blocks, IoLog log, nint tag)
    {
        if (Thread.Enter(out bool claimed, out int previous) != 0)
        {
            throw new InvalidOperationException(LastError.Message);
        }
        try
        {
            nint arg = IoTickets.Arg(Handler, log, tag);
            return IoTickets.FreeIfRefused(Channel.Submit(Desc, type, iovs.Pointer, iovs.Count, null, offset, blocks,
                IoTickets.Callback, arg), arg);
        }
        finally
        {
            Thread.Leave(claimed, previous);
        }
    }

    /// <summary>Submits and polls until the I/O completes; its status, or Submit's error.</summary>
    public int Run(BdevIoType type, nint buf, ulong offset, ulong blocks)
    {
        var log = new IoLog();
        int rc = Submit(type, buf, offset, blocks, log, 1);
        if (rc != 0)
        {
            return rc;
        }
        if (!ThreadHost.PollUntil(() => log.Count == 1, Thread))
        {
            throw new TimeoutException($"{type} {offset}+{blocks} did not complete");
        }
        return log.Done[0].Status;
    }

    public int RunV(BdevIoType type, IovArray iovs, ulong offset, ulong blocks)
    {
        var log = new IoLog();
        int rc = SubmitV(type, iovs, offset, blocks, log, 1);
        if (rc != 0)
        {
            return rc;
        }
        if (!ThreadHost.PollUntil(() => log.Count == 1, Thread))
        {
            throw new TimeoutException($"vectored {type} {offset}+{blocks} did not complete");
        }
        return log.Done[0].Status;
    }

    public int PutChannel()
    {
        IoChannel ch = IoChannel!;
        return Bdevs.Bound(Thread, ch.Put);
    }

    public int CloseDesc() => Bdevs.Bound(Thread, () => BdevRegistry.Close(Desc));

    /// <summary>SPDK order: put the channel, close the descriptor; then polls once so the
    /// channel is released.</summary>
    public void Close()
    {
        if (IoChannel != null && !IoChannel.Destroyed && IoChannel.RefCount > 0)
        {
            PutChannel();
        }
        if (!Desc.Closed)
        {
            CloseDesc();
        }
        ThreadHost.Poll(Thread);
    }

    private static void OnDone(BdevIo* io, int status, object? ctx, nint arg) =>
        ((IoLog)ctx!).Done.Add(new IoDone(arg, status, io->Type, LightweightThread.Current));
}

/// <summary>A DMA buffer from the environment's pool, with pattern helpers.</summary>
internal sealed unsafe class DmaBuffer : IDisposable
{
    public readonly nint Pointer;
    public readonly int Size;

    public DmaBuffer(int size)
    {
        TestEnv.Ensure();
        Size = size;
        Pointer = (nint)NbEnvironment.Dma!.Alloc(size, 4096, zero: true);
        if (Pointer == 0)
        {
            throw new InvalidOperationException($"DMA alloc {size}: {LastError.Message}");
        }
    }

    public Span<byte> Span => new((void*)Pointer, Size);

    public nint At(int offset) => Pointer + offset;

    /// <summary>A deterministic, seed-dependent byte pattern that differs block to block.</summary>
    public static byte PatternByte(int offset, int seed) => (byte)(offset * 31 + (offset >> 9) * 7 + seed * 101 + 1);

    public DmaBuffer Fill(int seed, int offset = 0, int length = -1)
    {
        Span<byte> s = Span.Slice(offset, length < 0 ? Size - offset : length);
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = PatternByte(offset + i, seed);
        }
        return this;
    }

    public DmaBuffer FillByte(byte value)
    {
        Span.Fill(value);
        return this;
    }

    /// <summary>Whether bytes [offset, offset+length) hold the pattern of <paramref name="seed"/>
    /// as <see cref="Fill"/> wrote it at <paramref name="patternOffset"/>.</summary>
    public bool HasPattern(int seed, int offset = 0, int length = -1, int patternOffset = -1)
    {
        Span<byte> s = Span.Slice(offset, length < 0 ? Size - offset : length);
        int p0 = patternOffset < 0 ? offset : patternOffset;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != PatternByte(p0 + i, seed))
            {
                return false;
            }
        }
        return true;
    }

    public bool IsZero(int offset = 0, int length = -1) =>
        !Span.Slice(offset, length < 0 ? Size - offset : length).ContainsAnyExcept((byte)0);

    public byte[] ToArray() => Span.ToArray();

    public void Dispose() => NbEnvironment.Dma!.Free((void*)Pointer);
}

/// <summary>An iovec array in unmanaged memory (an I/O keeps a pointer to the caller's
/// array until it completes), cut from a buffer in the given lengths.</summary>
internal sealed unsafe class IovArray : IDisposable
{
    public readonly Iovec* Pointer;
    public readonly int Count;

    public IovArray(nint buffer, params int[] lengths)
    {
        Count = lengths.Length;
        Pointer = (Iovec*)NativeMemory.AllocZeroed((nuint)(Math.Max(1, Count) * sizeof(Iovec)));
        nint p = buffer;
        for (int i = 0; i < Count; i++)
        {
            Pointer[i].Base = (byte*)p;
            Pointer[i].Length = (nuint)lengths[i];
            p += lengths[i];
        }
    }

    public void Dispose() => NativeMemory.Free(Pointer);
}
