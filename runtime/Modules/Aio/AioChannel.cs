using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Aio;

/// <summary>An aio bdev's share of its thread's <see cref="AioGroup"/>. Submit writes the
/// iocb into the BdevIo's driver context and queues it; the group's poller submits and
/// reaps for every file of the thread.</summary>
internal sealed unsafe class AioChannel : BdevModuleChannel
{
    private readonly AioBdev _bdev;
    private IoChannel? _groupChannel;
    private AioGroup _group = null!;

    public AioChannel(AioBdev bdev) => _bdev = bdev;

    public int Init()
    {
        int rc = IoChannel.Get(AioGroup.Device, out _groupChannel);
        if (rc == 0)
        {
            _group = (AioGroup)_groupChannel!.State!;
        }
        return rc;
    }

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        var cb = (AioAbi.Iocb*)BdevIo.DriverContext(io);
        *cb = default;
        cb->Data = (ulong)io;
        cb->Fildes = (uint)_bdev.File.Fd;
        cb->Offset = (long)(io->OffsetBlocks * _bdev.BlockSize);
        switch (io->Type)
        {
            case BdevIoType.Read:
            case BdevIoType.Write:
                bool write = io->Type == BdevIoType.Write;
                if (io->IovCount == 1)
                {
                    cb->LioOpcode = write ? AioAbi.IOCB_CMD_PWRITE : AioAbi.IOCB_CMD_PREAD;
                    cb->Buf = (ulong)io->Iovs[0].Base;
                    cb->NBytes = io->Iovs[0].Length;
                }
                else
                {
                    cb->LioOpcode = write ? AioAbi.IOCB_CMD_PWRITEV : AioAbi.IOCB_CMD_PREADV;
                    cb->Buf = (ulong)io->Iovs;
                    cb->NBytes = (ulong)io->IovCount;
                }
                break;
            case BdevIoType.Flush:
                cb->LioOpcode = AioAbi.IOCB_CMD_FDSYNC;
                cb->Offset = 0;
                break;
            default: // Reset: the bdev layer has drained every I/O; nothing is queued in the kernel
                channel.Complete(io, 0);
                return;
        }
        _group.Queue(cb);
    }

    /// <summary>Only for a released channel draining: the group's poller does the rest.</summary>
    public override int Poll(BdevChannel channel) => _group.Poll();

    public override void Destroy()
    {
        _groupChannel?.Put();
        _groupChannel = null;
    }
}
