using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;

namespace NativeBdev.Env;

/// <summary>A bounded lock-free queue (Dmitry Vyukov's array queue with a sequence number per
/// cell). Any number of producers; consumers either many (<see cref="TryDequeue"/>) or, where
/// the owner guarantees one, the cheaper <see cref="TryDequeueSingle"/>. Capacity is fixed
/// at construction, a power of two: a full queue refuses, it never grows or allocates.</summary>
internal sealed class MpmcQueue<T>
{
    private struct Cell
    {
        public long Sequence;
        public T Item;
    }

    private readonly Cell[] _cells;
    private readonly long _mask;
    private QueuePositions _pos;

    public MpmcQueue(int capacity)
    {
        Invariant.Assert(capacity >= 2 && (capacity & (capacity - 1)) == 0, "capacity must be a power of two");
        _cells = new Cell[capacity];
        _mask = capacity - 1;
        for (int i = 0; i < capacity; i++)
        {
            _cells[i].Sequence = i;
        }
    }

    public int Capacity => _cells.Length;

    /// <summary>Items queued now; exact only when nobody is racing.</summary>
    public int Count
    {
        get
        {
            long n = Volatile.Read(ref _pos.Enqueue) - Volatile.Read(ref _pos.Dequeue);
            return n < 0 ? 0 : (int)System.Math.Min(n, _cells.Length);
        }
    }

    public bool IsEmpty
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            long pos = Volatile.Read(ref _pos.Dequeue);
            return Volatile.Read(ref _cells[pos & _mask].Sequence) != pos + 1;
        }
    }

    public bool TryEnqueue(T item)
    {
        Cell[] cells = _cells;
        long pos = Volatile.Read(ref _pos.Enqueue);
        while (true)
        {
            ref Cell cell = ref cells[pos & _mask];
            long seq = Volatile.Read(ref cell.Sequence);
            long dif = seq - pos;
            if (dif == 0)
            {
                if (Interlocked.CompareExchange(ref _pos.Enqueue, pos + 1, pos) == pos)
                {
                    cell.Item = item;
                    Volatile.Write(ref cell.Sequence, pos + 1);
                    return true;
                }
            }
            else if (dif < 0)
            {
                // The cell still holds the item of the previous lap. Really full only when
                // capacity items are queued; otherwise a consumer has claimed that item and
                // is about to release the cell.
                if (pos - Volatile.Read(ref _pos.Dequeue) >= cells.Length)
                {
                    return false; // full
                }
                Thread.SpinWait(1);
            }
            pos = Volatile.Read(ref _pos.Enqueue);
        }
    }

    public bool TryDequeue(out T item)
    {
        Cell[] cells = _cells;
        long pos = Volatile.Read(ref _pos.Dequeue);
        while (true)
        {
            ref Cell cell = ref cells[pos & _mask];
            long seq = Volatile.Read(ref cell.Sequence);
            long dif = seq - (pos + 1);
            if (dif == 0)
            {
                if (Interlocked.CompareExchange(ref _pos.Dequeue, pos + 1, pos) == pos)
                {
                    item = cell.Item;
                    cell.Item = default!;
                    Volatile.Write(ref cell.Sequence, pos + _mask + 1);
                    return true;
                }
            }
            else if (dif < 0)
            {
                // Empty, unless a producer has claimed this cell and is about to publish it:
                // then wait for it rather than report an element-holding pool as empty.
                if (Volatile.Read(ref _pos.Enqueue) <= pos)
                {
                    item = default!;
                    return false; // empty
                }
                Thread.SpinWait(1);
            }
            pos = Volatile.Read(ref _pos.Dequeue);
        }
    }

    /// <summary>Dequeue when the caller is the only consumer: no compare-and-swap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryDequeueSingle(out T item)
    {
        long pos = _pos.Dequeue;
        ref Cell cell = ref _cells[pos & _mask];
        if (Volatile.Read(ref cell.Sequence) != pos + 1)
        {
            item = default!;
            return false;
        }
        item = cell.Item;
        cell.Item = default!;
        Volatile.Write(ref _pos.Dequeue, pos + 1);
        Volatile.Write(ref cell.Sequence, pos + _mask + 1);
        return true;
    }
}
