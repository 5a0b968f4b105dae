using System;
using System.Runtime.CompilerServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Malloc;

/// <summary>malloc:///name?size_mb=|num_blocks=|size=&amp;blk_size=&amp;uuid= — a RAM disk in
/// the DMA pool (SPDK's bdev_malloc). Copies run on the submitting thread inside Submit and
/// complete on the next poll.</summary>
internal sealed class MallocModule : IBdevModule
{
    public string Name => "malloc";
    public ReadOnlySpan<string> Schemes => new[] { "malloc" };

    public unsafe int Create(BdevUri uri, out string? name)
    {
        name = null;
        int rc = BdevGeometry.ParseSizedDevice(uri, out string n, out uint bs, out ulong blocks, out Guid uuid);
        if (rc != 0)
        {
            return rc;
        }
        if (BdevRegistry.Find(n) != null)
        {
            return LastError.Set(Errno.EEXIST, $"a bdev named '{n}' already exists");
        }
        DmaPool dma = NbEnvironment.Dma!;
        byte* mem = (byte*)dma.Alloc((long)(blocks * bs), 4096, zero: true);
        if (mem == null)
        {
            return -Errno.ENOMEM; // the pool said why
        }
        var bdev = new MallocBdev(n, bs, blocks, uuid, mem, dma);
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            dma.Free(mem);
            return rc;
        }
        name = n;
        return 0;
    }
}

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
