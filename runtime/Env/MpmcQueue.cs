using System.Runtime.CompilerServices;
using System.Threading;

namespace NativeBdev.Env;

/// <summary>A bounded lock-free queue (Dmitry Vyukov's array queue with a sequence number per
/// cell). Any number of producers; consumers either many (<see cref="TryDequeue"/>) or, where
/// the owner guarantees one, the cheaper <see cref="TryDequeueSingle"/>. Capacity is fixed
/// at construction, a power of two: a full queue refuses, it never grows past it.
///
/// The cells live in up to 64 chunks. A lazy queue (a thread's message ring) allocates a chunk
/// when a producer first reaches it, so an idle thread's 16384-message ring costs a 512-byte
/// chunk table instead of 640 KiB touched at create (measured in tests/c/test_thread_memory.c);
/// an eager queue (a mempool's ring, on the I/O path) allocates every chunk at construction.
/// A chunk not yet allocated holds lap-0 cells: cell i's sequence is i, which is what a new
/// chunk is initialised to. Its first producer is necessarily in lap 0 (a position in a later
/// lap means the cell was claimed a lap earlier, after its chunk was published), and two
/// producers racing to allocate it agree through one compare-and-swap.</summary>
internal sealed class MpmcQueue<T>
{
    private struct Cell
    {
        public long Sequence;
        public T Item;
    }

    private const int MaxChunks = 64;
    private const int MinChunkCells = 256;

    private readonly Cell[]?[] _chunks;
    private readonly long _mask;
    private readonly int _chunkShift;
    private readonly long _chunkMask;
    private readonly int _capacity;
    private QueuePositions _pos;

    public MpmcQueue(int capacity, bool lazy = false)
    {
        Invariant.Assert(capacity >= 2 && (capacity & (capacity - 1)) == 0, "capacity must be a power of two");
        _capacity = capacity;
        _mask = capacity - 1;
        int chunkCells = System.Math.Max(System.Math.Min(capacity, MinChunkCells), capacity / MaxChunks);
        _chunkShift = System.Numerics.BitOperations.Log2((uint)chunkCells);
        _chunkMask = chunkCells - 1;
        _chunks = new Cell[]?[capacity / chunkCells];
        if (!lazy)
        {
            for (int c = 0; c < _chunks.Length; c++)
            {
                AddChunk(c);
            }
        }
    }

    public int Capacity => _capacity;

    /// <summary>Cells allocated so far (all of them for an eager queue).</summary>
    public int AllocatedCells
    {
        get
        {
            int n = 0;
            foreach (Cell[]? c in _chunks)
            {
                n += c?.Length ?? 0;
            }
            return n;
        }
    }

    /// <summary>Items queued now; exact only when nobody is racing.</summary>
    public int Count
    {
        get
        {
            long n = Volatile.Read(ref _pos.Enqueue) - Volatile.Read(ref _pos.Dequeue);
            return n < 0 ? 0 : (int)System.Math.Min(n, _capacity);
        }
    }

    public bool IsEmpty
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            long pos = Volatile.Read(ref _pos.Dequeue);
            Cell[]? chunk = Volatile.Read(ref _chunks[(pos & _mask) >> _chunkShift]);
            return chunk == null || Volatile.Read(ref chunk[pos & _chunkMask].Sequence) != pos + 1;
        }
    }

    /// <summary>The chunk holding position <paramref name="pos"/>, allocating it on first use
    /// (producers only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Cell[] ChunkForEnqueue(long pos)
    {
        int c = (int)((pos & _mask) >> _chunkShift);
        return Volatile.Read(ref _chunks[c]) ?? AddChunk(c);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Cell[] AddChunk(int c)
    {
        var chunk = new Cell[_chunkMask + 1];
        long first = (long)c << _chunkShift;
        for (int i = 0; i < chunk.Length; i++)
        {
            chunk[i].Sequence = first + i;
        }
        return Interlocked.CompareExchange(ref _chunks[c], chunk, null) ?? chunk;
    }

    public bool TryEnqueue(T item)
    {
        long pos = Volatile.Read(ref _pos.Enqueue);
        while (true)
        {
            ref Cell cell = ref ChunkForEnqueue(pos)[pos & _chunkMask];
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
                if (pos - Volatile.Read(ref _pos.Dequeue) >= _capacity)
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
        long pos = Volatile.Read(ref _pos.Dequeue);
        while (true)
        {
            Cell[]? chunk = Volatile.Read(ref _chunks[(pos & _mask) >> _chunkShift]);
            // No chunk yet: its cells are in lap 0, nothing published (sequence pos, dif -1).
            long seq = chunk == null ? pos : Volatile.Read(ref chunk[pos & _chunkMask].Sequence);
            long dif = seq - (pos + 1);
            if (dif == 0)
            {
                if (Interlocked.CompareExchange(ref _pos.Dequeue, pos + 1, pos) == pos)
                {
                    ref Cell cell = ref chunk![pos & _chunkMask];
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
        Cell[]? chunk = Volatile.Read(ref _chunks[(pos & _mask) >> _chunkShift]);
        if (chunk == null)
        {
            item = default!;
            return false;
        }
        ref Cell cell = ref chunk[pos & _chunkMask];
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
