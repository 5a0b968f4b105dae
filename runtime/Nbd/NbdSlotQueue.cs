using NativeBdev.Env;

namespace NativeBdev.Nbd;

/// <summary>A FIFO of a connection's slots linked through <see cref="NbdSlot.Next"/> (the
/// replies to send, the requests waiting for a bdev_io). A slot is on one queue at a time:
/// push asserts it is on none.</summary>
internal unsafe struct NbdSlotQueue
{
    private int _head;
    private int _tail;

    public NbdSlotQueue()
    {
        _head = -1;
        _tail = -1;
    }

    public readonly bool IsEmpty => _head < 0;

    /// <summary>The first slot's index, -1 when empty (to walk the queue without taking).</summary>
    public readonly int Head => _head;

    public void Push(NbdBuffers b, NbdSlot* s)
    {
        Invariant.Assert(s->Queued == 0, "an NBD slot pushed onto a second queue");
        s->Queued = 1;
        s->Next = -1;
        if (_tail < 0)
        {
            _head = s->Index;
        }
        else
        {
            b.Slot(_tail)->Next = s->Index;
        }
        _tail = s->Index;
    }

    public void PushFront(NbdBuffers b, NbdSlot* s)
    {
        Invariant.Assert(s->Queued == 0, "an NBD slot pushed onto a second queue");
        s->Queued = 1;
        s->Next = _head;
        _head = s->Index;
        if (_tail < 0)
        {
            _tail = s->Index;
        }
    }

    public NbdSlot* Pop(NbdBuffers b)
    {
        Invariant.Assert(_head >= 0, "pop of an empty NBD slot queue");
        NbdSlot* s = b.Slot(_head);
        _head = s->Next;
        if (_head < 0)
        {
            _tail = -1;
        }
        s->Queued = 0;
        s->Next = -1;
        return s;
    }
}
