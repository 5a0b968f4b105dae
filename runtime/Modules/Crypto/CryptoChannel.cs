using System;
using NativeBdev.Bdev;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Crypto;

/// <summary>A crypto bdev's per-thread state: the base channel, and the bounce slots writes are
/// encrypted into (the host's buffer is never modified), made once with the channel. A write
/// that finds no free slot waits on the channel's queue and starts when one is returned: no
/// failure, no allocation. A write longer than a slot goes down slot by slot. Reads go to the
/// base into the host's buffers, then are decrypted there.</summary>
internal sealed unsafe class CryptoChannel : BdevModuleChannel
{
    /// <summary>Slots per channel and bytes per slot: 32 x 64 KiB = 2 MiB of DMA memory per
    /// (bdev, thread); 32 writes in flight at QD32, longer writes in 64 KiB steps.</summary>
    public const int Slots = 32;
    public const int SlotBytes = 64 * 1024;

    private readonly CipherKey _cipher;
    private readonly TweakLayout _layout;
    private readonly uint _blockSize;
    private readonly ulong _slotBlocks;
    private readonly BdevDesc _baseDesc;
    private readonly IoChannel _baseIoChannel;
    private readonly BdevChannel _base;
    private readonly byte* _pool;
    private readonly byte* _scratch; // one block: a read's block that spans iovec entries
    private readonly int* _free;
    private int _freeCount;
    private BdevIo* _waitHead, _waitTail;

    private CryptoChannel(CryptoKey key, uint blockSize, BdevDesc baseDesc, IoChannel baseChannel, byte* pool)
    {
        _cipher = key.Cipher;
        _layout = key.Layout;
        _blockSize = blockSize;
        _slotBlocks = (ulong)(SlotBytes / blockSize);
        _baseDesc = baseDesc;
        _baseIoChannel = baseChannel;
        _base = (BdevChannel)baseChannel.State!;
        _pool = pool;
        _scratch = pool + (long)Slots * SlotBytes;
        _free = (int*)(_scratch + blockSize);
        for (int i = 0; i < Slots; i++)
        {
            _free[i] = Slots - 1 - i;
        }
        _freeCount = Slots;
    }

    /// <summary>Null (LastError set) when the DMA pool has no room for the slots.</summary>
    public static CryptoChannel? Create(CryptoKey key, uint blockSize, BdevDesc baseDesc, IoChannel baseChannel)
    {
        long bytes = (long)Slots * SlotBytes + blockSize + Slots * sizeof(int);
        var pool = (byte*)NbEnvironment.Dma!.Alloc(bytes, 4096, zero: false);
        if (pool == null)
        {
            LastError.Set(Errno.ENOMEM, $"no DMA memory for the crypto bounce buffers ({bytes} bytes)");
            return null;
        }
        return new CryptoChannel(key, blockSize, baseDesc, baseChannel, pool);
    }

    private static CryptoIoContext* Context(BdevIo* io) => (CryptoIoContext*)BdevIo.DriverContext(io);

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        switch (io->Type)
        {
            case BdevIoType.Read:
                Forward(channel, io, io->Iovs, io->IovCount);
                break;
            case BdevIoType.Write:
            case BdevIoType.WriteZeroes:
                CryptoIoContext* ctx = Context(io);
                ctx->BlocksDone = 0;
                ctx->BlocksInChild = 0;
                ctx->NextWaiting = null;
                ctx->Slot = -1;
                if (_freeCount == 0)
                {
                    Wait(io);
                    return;
                }
                TakeSlot(ctx);
                WriteNextChunk(channel, io);
                break;
            default: // flush, reset, unmap: the base's own
                Forward(channel, io, io->IovCount > 0 ? io->Iovs : null, io->IovCount);
                break;
        }
    }

    private void Forward(BdevChannel channel, BdevIo* io, Iovec* iovs, int iovCount)
    {
        int rc = _base.SubmitChild(_baseDesc, io, io->Type, iovs, iovCount, null, io->OffsetBlocks, io->NumBlocks);
        if (rc != 0)
        {
            channel.Complete(io, rc);
        }
    }

    /// <summary>Encrypts the write's next slot-full (or zeroes, for write_zeroes) into its slot
    /// and sends it to the base at the same LBAs.</summary>
    private void WriteNextChunk(BdevChannel channel, BdevIo* io)
    {
        CryptoIoContext* ctx = Context(io);
        ulong first = io->OffsetBlocks + ctx->BlocksDone;
        ulong blocks = Math.Min(io->NumBlocks - ctx->BlocksDone, _slotBlocks);
        nuint bytes = (nuint)(blocks * _blockSize);
        if (io->Type == BdevIoType.WriteZeroes)
        {
            new Span<byte>(ctx->Bounce, (int)bytes).Clear();
            _cipher.EncryptUnits(ctx->Bounce, ctx->Bounce, bytes, _blockSize, first, _layout);
        }
        else
        {
            EncryptFromIovecs(io->Iovs, io->IovCount, ctx->BlocksDone * _blockSize, ctx->Bounce, bytes, first);
        }
        ctx->BlocksInChild = blocks;
        int rc = _base.SubmitChild(_baseDesc, io, BdevIoType.Write, null, 0, ctx->Bounce, first, blocks);
        if (rc != 0)
        {
            ReturnSlot(channel, ctx);
            channel.Complete(io, rc);
        }
    }

    public override void ChildDone(BdevChannel channel, BdevIo* parent, BdevIo* child)
    {
        int status = child->Status;
        switch (parent->Type)
        {
            case BdevIoType.Read:
                if (status == 0)
                {
                    DecryptIovecs(parent->Iovs, parent->IovCount, parent->NumBlocks * _blockSize,
                        parent->OffsetBlocks);
                }
                base.ChildDone(channel, parent, child);
                return;
            case BdevIoType.Write:
            case BdevIoType.WriteZeroes:
                CryptoIoContext* ctx = Context(parent);
                if (status == 0)
                {
                    ctx->BlocksDone += ctx->BlocksInChild;
                    if (ctx->BlocksDone < parent->NumBlocks)
                    {
                        WriteNextChunk(channel, parent);
                        return;
                    }
                }
                ReturnSlot(channel, ctx);
                base.ChildDone(channel, parent, child);
                return;
            default:
                base.ChildDone(channel, parent, child);
                return;
        }
    }

    // ---------------------------------------------------------------- bounce slots

    private void TakeSlot(CryptoIoContext* ctx)
    {
        Invariant.Assert(_freeCount > 0, "a crypto bounce slot taken from an empty free list");
        int slot = _free[--_freeCount];
        ctx->Slot = slot;
        ctx->Bounce = _pool + (long)slot * SlotBytes;
    }

    /// <summary>The slot goes to the oldest waiting write, if any, which starts now.</summary>
    private void ReturnSlot(BdevChannel channel, CryptoIoContext* ctx)
    {
        Invariant.Assert(ctx->Slot >= 0 && _freeCount < Slots, "a crypto bounce slot returned twice");
        _free[_freeCount++] = ctx->Slot;
        ctx->Slot = -1;
        ctx->Bounce = null;
        BdevIo* next = _waitHead;
        if (next == null)
        {
            return;
        }
        _waitHead = Context(next)->NextWaiting;
        if (_waitHead == null)
        {
            _waitTail = null;
        }
        Context(next)->NextWaiting = null;
        TakeSlot(Context(next));
        WriteNextChunk(channel, next);
    }

    private void Wait(BdevIo* io)
    {
        if (_waitTail == null)
        {
            _waitHead = io;
        }
        else
        {
            Context(_waitTail)->NextWaiting = io;
        }
        _waitTail = io;
    }

    // ---------------------------------------------------------------- iovecs

    /// <summary>Encrypts <paramref name="bytes"/> of the iovecs, from byte <paramref name="skip"/>
    /// on, into <paramref name="dst"/>: whole blocks inside one entry straight from the host's
    /// memory; a block that spans entries gathered into <paramref name="dst"/> first and
    /// encrypted in place.</summary>
    private void EncryptFromIovecs(Iovec* iovs, int count, ulong skip, byte* dst, nuint bytes, ulong firstUnit)
    {
        int i = 0;
        nuint at = Seek(iovs, count, skip, ref i);
        nuint done = 0;
        while (done < bytes)
        {
            while (at == iovs[i].Length)
            {
                i++;
                at = 0;
            }
            nuint avail = iovs[i].Length - at;
            ulong unit = firstUnit + done / _blockSize;
            if (avail >= _blockSize)
            {
                nuint run = Math.Min(avail, bytes - done) / _blockSize * _blockSize;
                _cipher.EncryptUnits(iovs[i].Base + at, dst + done, run, _blockSize, unit, _layout);
                done += run;
                at += run;
            }
            else
            {
                Gather(iovs, ref i, ref at, dst + done);
                _cipher.EncryptUnits(dst + done, dst + done, _blockSize, _blockSize, unit, _layout);
                done += _blockSize;
            }
        }
    }

    /// <summary>Decrypts the iovecs in place; a block that spans entries through the scratch block.</summary>
    private void DecryptIovecs(Iovec* iovs, int count, ulong bytes, ulong firstUnit)
    {
        int i = 0;
        nuint at = 0;
        nuint done = 0;
        while (done < bytes)
        {
            while (at == iovs[i].Length)
            {
                i++;
                at = 0;
            }
            nuint avail = iovs[i].Length - at;
            ulong unit = firstUnit + done / _blockSize;
            if (avail >= _blockSize)
            {
                nuint run = Math.Min(avail, (nuint)bytes - done) / _blockSize * _blockSize;
                byte* p = iovs[i].Base + at;
                _cipher.DecryptUnits(p, p, run, _blockSize, unit, _layout);
                done += run;
                at += run;
            }
            else
            {
                int i0 = i;
                nuint at0 = at;
                Gather(iovs, ref i, ref at, _scratch);
                _cipher.DecryptUnits(_scratch, _scratch, _blockSize, _blockSize, unit, _layout);
                Scatter(iovs, i0, at0, _scratch);
                done += _blockSize;
            }
        }
        Invariant.Assert(count > 0 || bytes == 0, "a crypto read without a buffer");
    }

    private static nuint Seek(Iovec* iovs, int count, ulong skip, ref int i)
    {
        nuint left = (nuint)skip;
        while (i < count && left >= iovs[i].Length)
        {
            left -= iovs[i].Length;
            i++;
        }
        return left;
    }

    /// <summary>Copies one block from the iovecs at (i, at) into <paramref name="into"/>, moving on.</summary>
    private void Gather(Iovec* iovs, ref int i, ref nuint at, byte* into)
    {
        nuint got = 0;
        while (got < _blockSize)
        {
            if (at == iovs[i].Length)
            {
                i++;
                at = 0;
                continue;
            }
            nuint n = Math.Min(iovs[i].Length - at, _blockSize - got);
            Buffer.MemoryCopy(iovs[i].Base + at, into + got, n, n);
            got += n;
            at += n;
        }
    }

    private void Scatter(Iovec* iovs, int i, nuint at, byte* from)
    {
        nuint put = 0;
        while (put < _blockSize)
        {
            if (at == iovs[i].Length)
            {
                i++;
                at = 0;
                continue;
            }
            nuint n = Math.Min(iovs[i].Length - at, _blockSize - put);
            Buffer.MemoryCopy(from + put, iovs[i].Base + at, n, n);
            put += n;
            at += n;
        }
    }

    public override void Destroy()
    {
        Invariant.Assert(_waitHead == null && _freeCount == Slots, "a crypto channel destroyed with writes in flight");
        // The slots held ciphertext only; the scratch block a decrypted block: clear it.
        new Span<byte>(_scratch, (int)_blockSize).Clear();
        NbEnvironment.Dma!.Free(_pool);
        _baseIoChannel.Put();
    }
}
