using System;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nbd;

/// <summary>A connection's request slots and DMA memory, allocated once when the client
/// chooses an export and freed when the connection ends: a fixed number of slots and a
/// DMA region cut into equal chunks, a request taking as many chunks as its payload needs
/// (scattered, as an iovec). Taking and returning are pops and pushes on two stacks.</summary>
internal sealed unsafe class NbdBuffers : IDisposable
{
    private readonly NbdSlot* _slots;
    private readonly Iovec* _iovs;
    private readonly int* _chunkNumbers;
    private readonly int* _freeSlots;
    private readonly int* _freeChunks;
    private readonly DmaPool _dma;
    private byte* _arena;
    private int _freeSlotCount;
    private int _freeChunkCount;

    private NbdBuffers(DmaPool dma, byte* arena, int slots, int chunks, int chunkBytes, int chunksPerRequest,
        nint owner)
    {
        _dma = dma;
        _arena = arena;
        SlotCount = slots;
        ChunkCount = chunks;
        ChunkBytes = chunkBytes;
        ChunksPerRequest = chunksPerRequest;
        _slots = (NbdSlot*)NativeMemory.AllocZeroed((nuint)(slots * sizeof(NbdSlot)));
        _iovs = (Iovec*)NativeMemory.AllocZeroed((nuint)(slots * chunksPerRequest * sizeof(Iovec)));
        _chunkNumbers = (int*)NativeMemory.AllocZeroed((nuint)(slots * chunksPerRequest * sizeof(int)));
        _freeSlots = (int*)NativeMemory.Alloc((nuint)(slots * sizeof(int)));
        _freeChunks = (int*)NativeMemory.Alloc((nuint)(chunks * sizeof(int)));
        for (int i = 0; i < slots; i++)
        {
            NbdSlot* s = &_slots[i];
            s->Index = i;
            s->Next = -1;
            s->Owner = owner;
            s->Iov = _iovs + i * chunksPerRequest;
            s->Chunks = _chunkNumbers + i * chunksPerRequest;
            _freeSlots[_freeSlotCount++] = slots - 1 - i;
        }
        for (int i = 0; i < chunks; i++)
        {
            _freeChunks[_freeChunkCount++] = chunks - 1 - i;
        }
    }

    public int SlotCount { get; }
    public int ChunkCount { get; }
    public int ChunkBytes { get; }
    public int ChunksPerRequest { get; }
    public int SlotsInUse => SlotCount - _freeSlotCount;

    /// <summary>0 and the buffers, or -ENOMEM with a message (the DMA pool is full).</summary>
    public static int Create(NbdServerOptions o, uint blockSize, uint alignment, nint owner, out NbdBuffers? buffers)
    {
        buffers = null;
        DmaPool? dma = NbEnvironment.Dma;
        if (dma == null)
        {
            return NbEnvironment.NotInitialized();
        }
        int chunkBytes = Math.Max(o.ChunkBytes, (int)blockSize);
        int chunksPerRequest = (int)(((long)o.MaxPayloadBytes + chunkBytes - 1) / chunkBytes);
        int chunks = Math.Max(o.BufferBytes / chunkBytes, chunksPerRequest);
        var arena = (byte*)dma.Alloc((long)chunks * chunkBytes, Math.Max(4096, alignment), zero: false);
        if (arena == null)
        {
            return LastError.Set(Errno.ENOMEM,
                $"no DMA memory for an NBD connection's {(long)chunks * chunkBytes >> 20} MiB of buffers");
        }
        buffers = new NbdBuffers(dma, arena, o.MaxRequestsInFlight, chunks, chunkBytes, chunksPerRequest, owner);
        return 0;
    }

    public NbdSlot* Slot(int index) => &_slots[index];

    public int ChunksFor(uint bytes) => (int)(((long)bytes + ChunkBytes - 1) / ChunkBytes);

    /// <summary>Whether a request with <paramref name="chunks"/> chunks can start now.</summary>
    public bool CanTake(int chunks) => _freeSlotCount > 0 && _freeChunkCount >= chunks;

    /// <summary>A slot with chunks for <paramref name="bytes"/> of payload (0: none), as
    /// <see cref="CanTake"/> promised.</summary>
    public NbdSlot* Take(uint bytes)
    {
        int chunks = ChunksFor(bytes);
        Invariant.Assert(CanTake(chunks), "an NBD slot taken without room for it");
        NbdSlot* s = &_slots[_freeSlots[--_freeSlotCount]];
        Invariant.Assert(s->Stage == NbdSlot.Free, "an NBD slot on the free stack is in use");
        uint left = bytes;
        for (int i = 0; i < chunks; i++)
        {
            int c = _freeChunks[--_freeChunkCount];
            s->Chunks[i] = c;
            uint n = Math.Min(left, (uint)ChunkBytes);
            s->Iov[i].Base = _arena + (long)c * ChunkBytes;
            s->Iov[i].Length = n;
            left -= n;
        }
        s->ChunkCount = chunks;
        s->Next = -1;
        s->FlushAfter = 0;
        s->Error = 0;
        s->DataBytes = 0;
        return s;
    }

    public void Return(NbdSlot* s)
    {
        Invariant.Assert(s->Stage != NbdSlot.Free, "an NBD slot returned twice");
        for (int i = 0; i < s->ChunkCount; i++)
        {
            _freeChunks[_freeChunkCount++] = s->Chunks[i];
        }
        Invariant.Assert(s->Queued == 0, "an NBD slot returned while on a queue");
        s->ChunkCount = 0;
        s->Stage = NbdSlot.Free;
        _freeSlots[_freeSlotCount++] = s->Index;
    }

    public void Dispose()
    {
        if (_arena == null)
        {
            return;
        }
        _dma.Free(_arena);
        _arena = null;
        NativeMemory.Free(_slots);
        NativeMemory.Free(_iovs);
        NativeMemory.Free(_chunkNumbers);
        NativeMemory.Free(_freeSlots);
        NativeMemory.Free(_freeChunks);
    }
}
