using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Split;

/// <summary>A split part's per-thread state: its thread's channel of the base. An I/O goes
/// down as one child at the part's offset, with the host's own buffers.</summary>
internal sealed unsafe class SplitChannel : BdevModuleChannel
{
    private readonly BdevDesc _baseDesc;
    private readonly IoChannel _baseIoChannel;
    private readonly BdevChannel _base;
    private readonly ulong _offset;

    public SplitChannel(BdevDesc baseDesc, IoChannel baseChannel, ulong offsetBlocks)
    {
        _baseDesc = baseDesc;
        _baseIoChannel = baseChannel;
        _base = (BdevChannel)baseChannel.State!;
        _offset = offsetBlocks;
    }

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        Iovec* iovs = io->IovCount > 0 ? io->Iovs : null;
        // A reset has no range; everything else moves by the part's offset.
        ulong at = io->Type == BdevIoType.Reset ? 0 : io->OffsetBlocks + _offset;
        int rc = _base.SubmitChild(_baseDesc, io, io->Type, iovs, io->IovCount, null, at, io->NumBlocks);
        if (rc != 0)
        {
            channel.Complete(io, rc);
        }
    }

    public override void Destroy() => _baseIoChannel.Put();
}
