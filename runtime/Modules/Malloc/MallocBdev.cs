using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Malloc;

internal sealed unsafe class MallocBdev : Bdev.Bdev
{
    private readonly byte* _mem;
    private readonly ulong _capacityBlocks;
    private readonly DmaPool _dma;

    public MallocBdev(string name, uint blockSize, ulong blocks, Guid uuid, byte* mem, DmaPool dma)
        : base(name, "malloc", blockSize, blocks)
    {
        Uuid = uuid;
        ProductName = "Malloc disk";
        StartsBlank = true;
        _mem = mem;
        _capacityBlocks = blocks;
        _dma = dma;
    }

    public override bool IoTypeSupported(BdevIoType type) => type is BdevIoType.Read or BdevIoType.Write
        or BdevIoType.Unmap or BdevIoType.Flush or BdevIoType.Reset or BdevIoType.WriteZeroes;

    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer) =>
        BdevConfig.SizedDevice(writer, "bdev_malloc_create", this);

    public override BdevModuleChannel? CreateChannel(BdevChannel channel) => new MallocChannel(this);

    public override void Destruct() => _dma.Free(_mem);

    /// <summary>Shrinks, or grows back up to the size it was created with: the memory is one
    /// DMA allocation that other threads may be copying from, so it is never moved.</summary>
    protected override int ResizeBackend(ulong newBlockCount)
    {
        if (newBlockCount > _capacityBlocks)
        {
            return LastError.Set(Errno.ENOSPC,
                $"malloc bdev '{Name}' can grow only up to its created size ({_capacityBlocks} blocks)");
        }
        return 0;
    }

    private sealed class MallocChannel : BdevModuleChannel
    {
        private readonly MallocBdev _bdev;

        public MallocChannel(MallocBdev bdev) => _bdev = bdev;

        public override void Submit(BdevChannel channel, BdevIo* io)
        {
            uint bs = _bdev.BlockSize;
            byte* disk = _bdev._mem + io->OffsetBlocks * bs;
            ulong len = io->NumBlocks * bs;
            Invariant.Assert(io->OffsetBlocks + io->NumBlocks <= _bdev.BlockCount, "a malloc I/O past the bdev's end");
            switch (io->Type)
            {
                case BdevIoType.Read:
                    for (int i = 0; i < io->IovCount; i++)
                    {
                        ulong n = io->Iovs[i].Length;
                        Invariant.Assert(n <= len, "an iovec longer than its I/O");
                        Buffer.MemoryCopy(disk, io->Iovs[i].Base, (long)n, (long)n); // 64-bit length: no mod 2^32
                        disk += n;
                    }
                    break;
                case BdevIoType.Write:
                    for (int i = 0; i < io->IovCount; i++)
                    {
                        ulong n = io->Iovs[i].Length;
                        Invariant.Assert(n <= len, "an iovec longer than its I/O");
                        Buffer.MemoryCopy(io->Iovs[i].Base, disk, (long)n, (long)n);
                        disk += n;
                    }
                    break;
                case BdevIoType.Unmap:
                case BdevIoType.WriteZeroes:
                    System.Runtime.InteropServices.NativeMemory.Clear(disk, (nuint)len);
                    break;
            }
            channel.Complete(io, 0);
        }

        public override void Destroy()
        {
        }
    }
}
