using System.Collections.Generic;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Targets.Nvmf;

/// <summary>One thread's share of the target (SPDK's spdk_nvmf_poll_group with its TCP
/// transport poll group): the connections that thread serves — their sockets in the thread's
/// socket group, their bdev channels the thread's own — and the poller that sends what their
/// commands completed since the last poll. Group 0 lives on the target's thread and holds
/// every connection until its Connect (admin queues stay there, beside the controller they
/// belong to); an I/O queue then moves to the next group in turn, and from there on only that
/// thread touches it, so the I/O path takes no lock. The counters are SPDK's nvmf_get_stats
/// poll group fields, written by the group's thread, read anywhere.</summary>
internal sealed unsafe class NvmfPollGroup
{
    private readonly NvmfTarget _target;
    private List<NvmfConnection> _flushes = new();
    private List<NvmfConnection> _flushing = new();
    private Poller? _poller;
    private int _connections;
    private bool _stopping;

    public NvmfPollGroup(NvmfTarget target, LightweightThread thread, int index, bool ownsThread)
    {
        _target = target;
        Thread = thread;
        Index = index;
        OwnsThread = ownsThread;
        Name = $"nvmf_tgt_poll_group_{index:D3}";
    }

    public LightweightThread Thread { get; }

    public int Index { get; }

    public string Name { get; }

    /// <summary>The target made the thread (one per reactor core) and ends it at stop.</summary>
    public bool OwnsThread { get; }

    public long AdminQpairs;
    public long IoQpairs;
    public long CurrentAdminQpairs;
    public long CurrentIoQpairs;
    public long CompletedIo;

    /// <summary>On <see cref="Thread"/>: the group's poller.</summary>
    public int Start() =>
        Thread.RegisterPoller(Name, 0, (nint)(delegate*<object?, int>)&PollThunk, 0, this, managed: true, out _poller);

    private static void StartThunk(object? o, nint _)
    {
        var g = (NvmfPollGroup)o!;
        if (g.Start() != 0)
        {
            Log.Error($"nvmf: poll group '{g.Name}' on thread '{g.Thread.Name}': no poller: {LastError.Message}");
        }
    }

    /// <summary>Starts the group on its thread, by message (the thread may be on another core).</summary>
    public int StartRemote() => Thread.Send(&StartThunk, this);

    internal void QueueFlush(NvmfConnection c) => _flushes.Add(c);

    /// <summary>A connection leaving for another group is no longer flushed here (rare: once
    /// per I/O queue, so the list search is fine).</summary>
    internal void Forget(NvmfConnection c)
    {
        _flushes.Remove(c);
        _flushing.Remove(c);
    }

    internal void Joined() => _connections++;

    /// <summary>A connection of the group ended (or left it); a stopping group whose last
    /// connection went stops its poller and, when it made its thread, ends the thread.</summary>
    internal void Left()
    {
        _connections--;
        MaybeRetire();
    }

    private static int PollThunk(object? o) => ((NvmfPollGroup)o!).Poll();

    private int Poll()
    {
        // A flush may queue its connection again: that goes to the other list, for the next poll.
        (_flushing, _flushes) = (_flushes, _flushing);
        int n = _flushing.Count;
        for (int i = 0; i < _flushing.Count; i++)
        {
            _flushing[i].FlushQueued();
        }
        _flushing.Clear();
        return n;
    }

    // ------------------------------------------------------------------ stopping

    private static void StopThunk(object? o, nint _) => ((NvmfPollGroup)o!).StopHere();

    /// <summary>From the target's thread: the group's connections close on its thread (each
    /// finishes when the bdev gave back its commands), then the group goes.</summary>
    public void Stop()
    {
        if (Thread.IsCurrent)
        {
            StopHere();
        }
        else if (Thread.Send(&StopThunk, this) != 0)
        {
            Log.Warn($"nvmf: poll group '{Name}': thread '{Thread.Name}' takes no messages; left as it is");
        }
    }

    private void StopHere()
    {
        _stopping = true;
        MaybeRetire();
    }

    private void MaybeRetire()
    {
        if (!_stopping || _connections > 0 || _poller == null)
        {
            return;
        }
        Thread.UnregisterPoller(_poller);
        _poller = null;
        if (OwnsThread)
        {
            Thread.RequestExit(); // it exits once its channels are gone; the target destroys it
            if (_target.Thread.Send(&RetireThunk, this) != 0)
            {
                Log.Warn($"nvmf: poll group thread '{Thread.Name}' exits, but the target's thread is gone: " +
                    "nobody destroys it");
            }
        }
    }

    private static void RetireThunk(object? o, nint _)
    {
        var g = (NvmfPollGroup)o!;
        g._target.Retire(g.Thread);
    }

    public long Read(ref long counter) => Volatile.Read(ref counter);
}
