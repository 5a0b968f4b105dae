using System.Collections.Generic;
using NativeBdev.Reactor;

namespace NativeBdev.Nbd;

/// <summary>The connections whose replies completed in this poll, sent from the owner's poller
/// after the poll's other completions: one sendmsg for a batch rather than one per reply.</summary>
internal sealed unsafe class NbdFlushQueue
{
    private List<NbdConnection> _queued = new();
    private List<NbdConnection> _flushing = new();
    private Poller? _poller;

    /// <summary>Registers the poller on the current thread (<paramref name="thread"/>).</summary>
    public int Start(LightweightThread thread, string name) =>
        thread.RegisterPoller(name, 0, (nint)(delegate*<object?, int>)&PollThunk, 0, this, managed: true,
            out _poller);

    public void Stop(LightweightThread thread)
    {
        _queued.Clear();
        if (_poller != null)
        {
            thread.UnregisterPoller(_poller);
            _poller = null;
        }
    }

    public void Add(NbdConnection c) => _queued.Add(c);

    private static int PollThunk(object? o) => ((NbdFlushQueue)o!).Poll();

    private int Poll()
    {
        // A flush may queue its connection again (requests it resumed completed at once):
        // that goes to the other list, for the next poll.
        (_flushing, _queued) = (_queued, _flushing);
        int n = _flushing.Count;
        for (int i = 0; i < n; i++)
        {
            _flushing[i].FlushQueued();
        }
        _flushing.Clear();
        return n;
    }
}
