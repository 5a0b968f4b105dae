using System.Runtime.CompilerServices;
using NativeBdev.Env;

namespace NativeBdev.Bdev;

/// <summary>Which queue holds an I/O: every <see cref="IoQueue"/> has one, and an I/O
/// records it, so an I/O is on at most one queue and a dump can say where each one waits.</summary>
internal enum IoQueueName : byte
{
    None = 0,        // on no queue: with the backend, or being completed
    Free,            // the thread's pool of free I/Os
    Done,            // completed during submit: delivered on the next poll
    Resets,          // resets waiting for the bdev to drain
    Held,            // submitted while a reset drains the bdev
    Delayed,         // fault injection: waits for its delay to pass
    Stuck,           // fault injection: never completes unless reset, aborted or removed
}

/// <summary>The bdev layer's named queue of <see cref="BdevIo"/>: an
/// <see cref="IntrusiveQueue{T}"/> through the I/O's <c>Next</c> link and <c>Queue</c> name.
/// A mutable struct: keep it in a field (never <c>readonly</c>).</summary>
internal unsafe struct IoQueue
{
    private IntrusiveQueue<BdevIo> _q;

    public IoQueue(IoQueueName name) => _q = new IntrusiveQueue<BdevIo>((byte)name);

    private IoQueue(IntrusiveQueue<BdevIo> q) => _q = q;

    public readonly IoQueueName Name => (IoQueueName)_q.Name;
    public readonly bool IsEmpty => _q.IsEmpty;
    public readonly int Count => _q.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(BdevIo* io) => _q.Push(io);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushHead(BdevIo* io) => _q.PushHead(io);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BdevIo* Pop() => _q.Pop();

    /// <summary>See <see cref="IntrusiveQueue{T}.TakeAll"/>.</summary>
    public IoQueue TakeAll() => new(_q.TakeAll());

    public readonly bool Contains(BdevIo* io) => _q.Contains(io);
}
