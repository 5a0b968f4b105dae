using System;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Targets.Nvmf;

/// <summary>A connection's request slots and DMA memory, allocated once when it is accepted
/// and freed when it ends: one slot per queue entry and a DMA region cut into equal chunks,
/// a command taking as many chunks as its data needs (scattered, as an iovec the bdev gets
/// without a copy). Taking and returning are pops and pushes on two stacks.</summary>
internal sealed unsafe class NvmfBuffers : IDisposable
{
    private readonly NvmfRequest* _slots;
    private readonly Iovec* _iovs;
    private readonly int* _chunkNumbers;
    private readonly int* _freeSlots;
    private readonly int* _freeChunks;
    private readonly DmaPool _dma;
    private byte* _arena;
    private int _freeSlotCount;
    private int _freeChunkCount;

    private NvmfBuffers(DmaPool dma, byte* arena, int slots, int chunks, int chunkBytes, int chunksPerRequest,
        nint owner)
    {
        _dma = dma;
        _arena = arena;
        SlotCount = slots;
        ChunkBytes = chunkBytes;
        ChunksPerRequest = chunksPerRequest;
        _slots = (NvmfRequest*)NativeMemory.AllocZeroed((nuint)(slots * sizeof(NvmfRequest)));
        _iovs = (Iovec*)NativeMemory.AllocZeroed((nuint)(slots * chunksPerRequest * sizeof(Iovec)));
        _chunkNumbers = (int*)NativeMemory.AllocZeroed((nuint)(slots * chunksPerRequest * sizeof(int)));
        _freeSlots = (int*)NativeMemory.Alloc((nuint)(slots * sizeof(int)));
        _freeChunks = (int*)NativeMemory.Alloc((nuint)(chunks * sizeof(int)));
        for (int i = 0; i < slots; i++)
        {
            NvmfRequest* r = &_slots[i];
            r->Index = i;
            r->Next = -1;
            r->Owner = owner;
            r->Iov = _iovs + i * chunksPerRequest;
            r->Chunks = _chunkNumbers + i * chunksPerRequest;
            _freeSlots[_freeSlotCount++] = slots - 1 - i;
        }
        for (int i = 0; i < chunks; i++)
        {
            _freeChunks[_freeChunkCount++] = chunks - 1 - i;
        }
    }

    public int SlotCount { get; }
    public int ChunkBytes { get; }
    public int ChunksPerRequest { get; }
    public int SlotsInUse => SlotCount - _freeSlotCount;

    /// <summary>0 and the buffers, or -ENOMEM with a message (the DMA pool is full).</summary>
    public static int Create(NvmfTransportOptions o, nint owner, out NvmfBuffers? buffers)
    {
        buffers = null;
        DmaPool? dma = NbEnvironment.Dma;
        if (dma == null)
        {
            return NbEnvironment.NotInitialized();
        }
        int slots = Math.Max(o.MaxQueueDepth, o.MaxAdminQueueDepth);
        int largest = Math.Max(o.MaxIoSize, NvmfTransportOptions.AdminInCapsuleDataSize);
        int chunksPerRequest = (largest + o.ChunkBytes - 1) / o.ChunkBytes;
        int chunks = Math.Max(o.BufferBytes / o.ChunkBytes, chunksPerRequest);
        var arena = (byte*)dma.Alloc((long)chunks * o.ChunkBytes, 4096, zero: false);
        if (arena == null)
        {
            return LastError.Set(Errno.ENOMEM,
                $"no DMA memory for an NVMe/TCP connection's {(long)chunks * o.ChunkBytes >> 20} MiB of buffers");
        }
        buffers = new NvmfBuffers(dma, arena, slots, chunks, o.ChunkBytes, chunksPerRequest, owner);
        return 0;
    }

    public NvmfRequest* Slot(int index) => &_slots[index];

    public int ChunksFor(uint bytes) => (int)(((long)bytes + ChunkBytes - 1) / ChunkBytes);

    /// <summary>Whether a command with <paramref name="bytes"/> of data can start now.</summary>
    public bool CanTake(uint bytes) => _freeSlotCount > 0 && _freeChunkCount >= ChunksFor(bytes);

    /// <summary>Whether chunks for <paramref name="bytes"/> are free with
    /// <paramref name="reserve"/> more left over.</summary>
    public bool CanAttach(uint bytes, int reserve) => _freeChunkCount >= ChunksFor(bytes) + reserve;

    /// <summary>A slot with chunks for <paramref name="bytes"/> of data (0: none), as
    /// <see cref="CanTake"/> promised.</summary>
    public NvmfRequest* Take(uint bytes)
    {
        Invariant.Assert(CanTake(bytes), "an NVMe/TCP request slot taken without room for it");
        NvmfRequest* r = &_slots[_freeSlots[--_freeSlotCount]];
        Invariant.Assert(r->Stage == NvmfRequest.Free, "an NVMe/TCP request slot on the free stack is in use");
        r->ChunkCount = 0;
        Attach(r, bytes);
        r->Next = -1;
        r->Received = 0;
        r->Dw0 = 0;
        r->Status = 0;
        r->KeepAfterSend = 0;
        r->Outstanding = 0;
        r->HeaderBytes = 0;
        r->DataBytes = 0;
        r->TailBytes = 0;
        return r;
    }

    /// <summary>Chunks for <paramref name="bytes"/> of data to a slot taken without any (a
    /// command that waited for them), as <see cref="CanAttach"/> promised.</summary>
    public void Attach(NvmfRequest* r, uint bytes)
    {
        int chunks = ChunksFor(bytes);
        Invariant.Assert(r->ChunkCount == 0 && _freeChunkCount >= chunks, "NVMe/TCP chunks attached without room");
        uint left = bytes;
        for (int i = 0; i < chunks; i++)
        {
            int c = _freeChunks[--_freeChunkCount];
            r->Chunks[i] = c;
            uint n = Math.Min(left, (uint)ChunkBytes);
            r->Iov[i].Base = _arena + (long)c * ChunkBytes;
            r->Iov[i].Length = n;
            left -= n;
        }
        r->ChunkCount = chunks;
        r->Length = bytes;
    }

    public void Return(NvmfRequest* r)
    {
        Invariant.Assert(r->Stage != NvmfRequest.Free, "an NVMe/TCP request slot returned twice");
        Invariant.Assert(r->Queued == 0, "an NVMe/TCP request slot returned while on a queue");
        for (int i = 0; i < r->ChunkCount; i++)
        {
            _freeChunks[_freeChunkCount++] = r->Chunks[i];
        }
        r->ChunkCount = 0;
        r->Stage = NvmfRequest.Free;
        _freeSlots[_freeSlotCount++] = r->Index;
    }

    /// <summary>Copies <paramref name="data"/> into the request's chunks from their start.</summary>
    public static void CopyIn(NvmfRequest* r, ReadOnlySpan<byte> data)
    {
        int at = 0;
        for (int i = 0; i < r->ChunkCount && at < data.Length; i++)
        {
            int n = Math.Min((int)r->Iov[i].Length, data.Length - at);
            data.Slice(at, n).CopyTo(new Span<byte>(r->Iov[i].Base, n));
            at += n;
        }
    }

    /// <summary>Copies the first <paramref name="into"/>.Length bytes of the request's data out.</summary>
    public static void CopyOut(NvmfRequest* r, Span<byte> into)
    {
        int at = 0;
        for (int i = 0; i < r->ChunkCount && at < into.Length; i++)
        {
            int n = Math.Min((int)r->Iov[i].Length, into.Length - at);
            new ReadOnlySpan<byte>(r->Iov[i].Base, n).CopyTo(into.Slice(at, n));
            at += n;
        }
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
