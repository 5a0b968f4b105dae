using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Uring;

/// <summary>A uring bdev's share of its thread's <see cref="UringGroup"/>: the file's slot
/// in the ring's file table. Submit fills an SQE (user_data = the BdevIo address) without a
/// system call; the group's poller reaps and submits for every file of the thread. Buffers
/// in a registered DMA region go out as READ_FIXED/WRITE_FIXED, without the kernel pinning
/// pages per I/O.</summary>
internal sealed unsafe class UringChannel : BdevModuleChannel
{
    private readonly UringBdev _bdev;
    private IoChannel? _groupChannel;
    private UringGroup _group = null!;
    private int _slot = -1;
    private int _fd;
    private byte _fileFlags;

    public UringChannel(UringBdev bdev) => _bdev = bdev;

    public int Init()
    {
        int rc = IoChannel.Get(_bdev.SqPoll ? UringGroup.SqPolled : UringGroup.Plain, out _groupChannel);
        if (rc != 0)
        {
            return rc;
        }
        _group = (UringGroup)_groupChannel!.State!;
        _slot = _group.AddFile(_bdev.File.Fd);
        if (_slot >= 0)
        {
            _fd = _slot;
            _fileFlags = IoUringAbi.IOSQE_FIXED_FILE;
        }
        else
        {
            _fd = _bdev.File.Fd;
        }
        return 0;
    }

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        IoUringAbi.Sqe* sqe = _group.NextSqe(out int rc);
        if (sqe == null)
        {
            channel.Complete(io, rc < 0 ? rc : -Errno.EAGAIN);
            return;
        }
        uint bs = _bdev.BlockSize;
        sqe->Fd = _fd;
        sqe->Flags = _fileFlags;
        sqe->UserData = (ulong)io;
        sqe->Off = io->OffsetBlocks * bs;
        switch (io->Type)
        {
            case BdevIoType.Read:
            case BdevIoType.Write:
                bool write = io->Type == BdevIoType.Write;
                if (io->IovCount == 1)
                {
                    byte* buf = io->Iovs[0].Base;
                    nuint len = io->Iovs[0].Length;
                    int index = _group.HasFixedBuffers ? _group.BufferIndex(buf, len) : -1;
                    sqe->Addr = (ulong)buf;
                    sqe->Len = (uint)len;
                    if (index >= 0)
                    {
                        sqe->Opcode = write ? IoUringAbi.IORING_OP_WRITE_FIXED : IoUringAbi.IORING_OP_READ_FIXED;
                        sqe->BufIndex = (ushort)index;
                    }
                    else
                    {
                        sqe->Opcode = write ? IoUringAbi.IORING_OP_WRITE : IoUringAbi.IORING_OP_READ;
                    }
                }
                else
                {
                    sqe->Opcode = write ? IoUringAbi.IORING_OP_WRITEV : IoUringAbi.IORING_OP_READV;
                    sqe->Addr = (ulong)io->Iovs;
                    sqe->Len = (uint)io->IovCount;
                }
                break;
            case BdevIoType.Flush:
                sqe->Opcode = IoUringAbi.IORING_OP_FSYNC;
                sqe->OpFlags = IoUringAbi.IORING_FSYNC_DATASYNC;
                sqe->Off = 0;
                break;
            case BdevIoType.Unmap when _bdev.Unmap == UringUnmap.Discard:
                sqe->Opcode = IoUringAbi.IORING_OP_URING_CMD;
                sqe->Off = IoUringAbi.BLOCK_URING_CMD_DISCARD; // cmd_op; __pad1 (the high half) 0
                sqe->Addr = io->OffsetBlocks * bs;
                sqe->Addr3 = io->NumBlocks * bs;
                break;
            case BdevIoType.Unmap:
            case BdevIoType.WriteZeroes:
                sqe->Opcode = IoUringAbi.IORING_OP_FALLOCATE;
                sqe->Addr = io->NumBlocks * bs; // length
                sqe->Len = (uint)(IoUringAbi.FALLOC_FL_KEEP_SIZE | (io->Type == BdevIoType.Unmap
                    ? IoUringAbi.FALLOC_FL_PUNCH_HOLE : IoUringAbi.FALLOC_FL_ZERO_RANGE));
                break;
            default: // Reset: the bdev layer has drained every I/O; nothing is queued in the kernel
                sqe->Opcode = IoUringAbi.IORING_OP_NOP;
                break;
        }
        _group.Queued();
    }

    /// <summary>Only for a released channel draining: the group's poller does the rest.</summary>
    public override int Poll(BdevChannel channel) => _group.Poll();

    public override void Destroy()
    {
        if (_groupChannel == null)
        {
            return;
        }
        _group.RemoveFile(_slot); // the ring holds the file open while it is in the table
        _slot = -1;
        _groupChannel.Put();
        _groupChannel = null;
    }
}
