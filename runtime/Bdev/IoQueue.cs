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
    Pending,         // a backend's own wait (no command slot, queue not connected)
}

/// <summary>A named intrusive FIFO of <see cref="BdevIo"/> through its <c>Next</c> link
/// (TigerBeetle's queue.zig): pushing an I/O that is already on a queue, or popping from
/// the wrong one, is an invariant violation. A mutable struct: keep it in a field (never
/// <c>readonly</c>, never copied except by <see cref="TakeAll"/>).</summary>
internal unsafe struct IoQueue
{
    private BdevIo* _head;
    private BdevIo* _tail;
    private int _count;
    public readonly IoQueueName Name;

    public IoQueue(IoQueueName name)
    {
        Invariant.Assert(name != IoQueueName.None, "a queue has a name");
        Name = name;
    }

    public readonly bool IsEmpty => _head == null;
    public readonly int Count => _count;
    public readonly BdevIo* Head => _head;

    /// <summary>Appends at the tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(BdevIo* io)
    {
        Invariant.Assert(io->Queue == IoQueueName.None, "an I/O pushed onto a queue is already on one");
        Invariant.Assert(Name != IoQueueName.None, "pushed onto an unnamed (default) queue");
        io->Queue = Name;
        io->Next = null;
        if (_tail == null)
        {
            _head = io;
        }
        else
        {
            _tail->Next = io;
        }
        _tail = io;
        _count++;
    }

    /// <summary>Inserts at the head: the free pool is a stack, so the I/O used last (its
    /// cache lines warm) is the next one taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushHead(BdevIo* io)
    {
        Invariant.Assert(io->Queue == IoQueueName.None, "an I/O pushed onto a queue is already on one");
        io->Queue = Name;
        io->Next = _head;
        if (_head == null)
        {
            _tail = io;
        }
        _head = io;
        _count++;
    }

    /// <summary>Removes the head; null when empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BdevIo* Pop()
    {
        BdevIo* io = _head;
        if (io == null)
        {
            return null;
        }
        Invariant.Assert(io->Queue == Name, "the head of a queue is recorded on another queue");
        _head = io->Next;
        if (_head == null)
        {
            _tail = null;
        }
        io->Next = null;
        io->Queue = IoQueueName.None;
        _count--;
        Invariant.Assert(_count >= 0, "a queue's count went negative");
        return io;
    }

    /// <summary>Moves every element to a new queue of the same name and empties this one:
    /// a poll works through what was queued when it started, and what its callbacks queue
    /// waits for the next poll (bounded work per poll).</summary>
    public IoQueue TakeAll()
    {
        IoQueue all = this;
        _head = _tail = null;
        _count = 0;
        return all;
    }

    /// <summary>Whether <paramref name="io"/> is on this queue (a walk: for checks and
    /// rare paths only).</summary>
    public readonly bool Contains(BdevIo* io)
    {
        for (BdevIo* p = _head; p != null; p = p->Next)
        {
            if (p == io)
            {
                return true;
            }
        }
        return false;
    }
}
