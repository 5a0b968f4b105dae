using System.Threading;
using NativeBdev.Env;

namespace NativeBdev.Bdev;

/// <summary>Bdev resets on one channel, in SPDK's order: a reset waits until no I/O
/// submitted before it is outstanding on any channel of the bdev, then goes to the
/// backend; I/O submitted meanwhile is held and passed on, in order, once every reset of
/// the bdev has completed (otherwise a workload resubmitting from its callbacks keeps I/O
/// outstanding forever and the reset never runs).</summary>
internal sealed unsafe class ChannelResets
{
    private readonly BdevChannel _channel;
    private IoQueue _waiting = new(IoQueueName.Resets);
    private IoQueue _held = new(IoQueueName.Held);

    /// <summary>Resets the backend has and has not completed (not in Outstanding).</summary>
    public int InBackend;

    public ChannelResets(BdevChannel channel) => _channel = channel;

    public bool HasWaiting => !_waiting.IsEmpty;
    public bool HasHeld => !_held.IsEmpty;

    public void Add(BdevIo* io)
    {
        Interlocked.Increment(ref _channel.Bdev.PendingResets);
        _waiting.Push(io);
        _channel.MarkSlowWork();
    }

    public void Hold(BdevIo* io)
    {
        _held.Push(io);
        _channel.MarkSlowWork();
    }

    /// <summary>Once the bdev has drained, hands the waiting resets to the backend.</summary>
    public int Progress()
    {
        if (_channel.Bdev.OutstandingIo() > 0)
        {
            return 0;
        }
        IoQueue all = _waiting.TakeAll();
        int n = 0;
        BdevIo* io;
        while ((io = all.Pop()) != null)
        {
            InBackend++;
            _channel.SubmitToModule(io);
            n++;
        }
        return n;
    }

    /// <summary>A reset the backend completed.</summary>
    public void Completed()
    {
        Interlocked.Decrement(ref _channel.Bdev.PendingResets);
        InBackend--;
        Invariant.Assert(InBackend >= 0, "more resets completed than were given to the backend");
    }

    /// <summary>Every reset has completed: the I/O held meanwhile goes on, in submission order.</summary>
    public int ReleaseHeld()
    {
        IoQueue all = _held.TakeAll();
        int n = 0;
        BdevIo* io;
        while ((io = all.Pop()) != null)
        {
            _channel.Dispatch(io);
            n++;
        }
        return n;
    }
}
