using System;
using System.Collections.Generic;
using NativeBdev.Blob;

namespace NativeBdev.Modules.Lvol;

/// <summary>The blobstore reader's view of a base bdev during an import: the metadata part of the
/// device (super block, masks, metadata region: everything the reader touches) read on demand in
/// chunks of <see cref="ChunkBytes"/>, the last few kept. A clean load touches the masks and the
/// pages of its blobs (SPDK and we both take the lowest free page, so they sit together at the
/// start of the region: a few chunks); a replay walks the whole region in order, one chunk at a
/// time, skipping what the base says reads as zeros (a sparse file's holes, see
/// <see cref="DataExtent"/>). Nothing is read twice in either, and a store's metadata no longer has to fit in memory
/// (a 16 TiB store with 4 MiB clusters has 16 GiB of it). <see cref="Length"/> is the whole device's
/// size, as the super block's checks need it. A failed read answers false, with its errno kept in
/// <see cref="Error"/> (the reader's "past the end" message is then not the cause).</summary>
internal sealed class LvolChunkDevice(LvolMdIo io, Bdev.Bdev bdev, long limitBytes) : IBlobDevice
{
    private readonly long _deviceBytes = (long)bdev.SizeBytes;

    public const int ChunkBytes = 4 << 20;
    private const int KeptChunks = 8;

    private readonly Dictionary<long, byte[]> _chunks = [];
    private readonly Queue<long> _order = [];

    public long Length => _deviceBytes;

    /// <summary>The first read's failure (negative errno), 0 while none.</summary>
    public int Error { get; private set; }

    /// <summary>Chunks read from the base (each one I/O, or several of the metadata I/O's buffer).</summary>
    public long ChunksRead { get; private set; }

    /// <summary>The base's own answer (a file's holes: a replay of a big, mostly empty metadata
    /// region reads only what was ever written).</summary>
    public (long Start, long End) DataExtent(long offset)
    {
        bdev.DataExtent((ulong)offset, out ulong start, out ulong end);
        return ((long)start, (long)end);
    }

    public bool TryRead(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > limitBytes || destination.Length > limitBytes - offset)
        {
            return false;
        }
        while (destination.Length > 0)
        {
            long index = offset / ChunkBytes;
            byte[]? chunk = Chunk(index);
            if (chunk == null)
            {
                return false;
            }
            int at = (int)(offset - (index * ChunkBytes));
            int n = Math.Min(destination.Length, chunk.Length - at);
            chunk.AsSpan(at, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }
        return true;
    }

    private byte[]? Chunk(long index)
    {
        if (_chunks.TryGetValue(index, out byte[]? chunk))
        {
            return chunk;
        }
        long start = index * ChunkBytes;
        int bytes = (int)Math.Min(ChunkBytes, limitBytes - start);
        if (_order.Count >= KeptChunks)
        {
            // reuse the oldest chunk's array when it is a whole one (the replay's walk allocates none)
            long oldest = _order.Dequeue();
            byte[] old = _chunks[oldest];
            _chunks.Remove(oldest);
            chunk = old.Length == bytes ? old : null;
        }
        chunk ??= new byte[bytes];
        int rc = io.Read(start, chunk);
        if (rc != 0)
        {
            Error = Error != 0 ? Error : rc;
            return null;
        }
        ChunksRead++;
        _chunks.Add(index, chunk);
        _order.Enqueue(index);
        return chunk;
    }
}
