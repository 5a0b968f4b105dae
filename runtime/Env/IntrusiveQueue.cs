using System.Runtime.CompilerServices;

namespace NativeBdev.Env;

/// <summary>A named intrusive FIFO over unmanaged elements (TigerBeetle's queue.zig): no
/// allocation, O(1) push and pop, and an element records which queue holds it, so pushing
/// one that is already on a queue, or popping from the wrong one, is an invariant
/// violation. Name 0 means "on no queue". A mutable struct: keep it in a field (never
/// <c>readonly</c>, never copied except by <see cref="TakeAll"/>).</summary>
internal unsafe struct IntrusiveQueue<T> where T : unmanaged, IQueueable<T>
{
    private T* _head;
    private T* _tail;
    private int _count;
    public readonly byte Name;

    public IntrusiveQueue(byte name)
    {
        Invariant.Assert(name != 0, "a queue has a name");
        Name = name;
    }

    public readonly bool IsEmpty => _head == null;
    public readonly int Count => _count;

    /// <summary>Appends at the tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(T* item)
    {
        Invariant.Assert(*T.QueueName(item) == 0, "an element pushed onto a queue is already on one");
        Invariant.Assert(Name != 0, "pushed onto an unnamed (default) queue");
        *T.QueueName(item) = Name;
        *T.Link(item) = null;
        if (_tail == null)
        {
            _head = item;
        }
        else
        {
            *T.Link(_tail) = item;
        }
        _tail = item;
        _count++;
    }

    /// <summary>Inserts at the head (a stack's push: the element used last is taken next,
    /// its cache lines still warm).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushHead(T* item)
    {
        Invariant.Assert(*T.QueueName(item) == 0, "an element pushed onto a queue is already on one");
        *T.QueueName(item) = Name;
        *T.Link(item) = _head;
        if (_head == null)
        {
            _tail = item;
        }
        _head = item;
        _count++;
    }

    /// <summary>Removes the head; null when empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T* Pop()
    {
        T* item = _head;
        if (item == null)
        {
            return null;
        }
        Invariant.Assert(*T.QueueName(item) == Name, "the head of a queue is recorded on another queue");
        _head = *T.Link(item);
        if (_head == null)
        {
            _tail = null;
        }
        *T.QueueName(item) = 0; // the link is left: every push writes it
        _count--;
        Invariant.Assert(_count >= 0, "a queue's count went negative");
        return item;
    }

    /// <summary>Moves every element to a new queue of the same name and empties this one:
    /// a poll works through what was queued when it started, and what its callbacks queue
    /// waits for the next poll (bounded work per poll).</summary>
    public IntrusiveQueue<T> TakeAll()
    {
        IntrusiveQueue<T> all = this;
        _head = _tail = null;
        _count = 0;
        return all;
    }

    /// <summary>Whether <paramref name="item"/> is on this queue (a walk: checks and rare
    /// paths only).</summary>
    public readonly bool Contains(T* item)
    {
        for (T* p = _head; p != null; p = *T.Link(p))
        {
            if (p == item)
            {
                return true;
            }
        }
        return false;
    }
}
