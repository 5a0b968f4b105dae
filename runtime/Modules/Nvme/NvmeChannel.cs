using System.Runtime.CompilerServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Nvme;

/// <summary>A namespace bdev's channel: maps each bdev I/O to a driver request (kept in the
/// I/O's driver context) on the thread's queue pair of the controller, which it shares with
/// the controller's other namespaces on this thread. Bdev resets and admin passthrough go
/// to the controller's admin poll and come back as a message.</summary>
internal sealed unsafe class NvmeChannel : BdevModuleChannel
{
    private readonly NvmeBdev _bdev;
    private readonly BdevChannel _channel;
    private readonly uint _nsid;
    private readonly uint _blockSize;
    private IoChannel? _qpairChannel;
    private NvmeIoQpair _qpair = null!;

    public NvmeChannel(NvmeBdev bdev, BdevChannel channel)
    {
        _bdev = bdev;
        _channel = channel;
        _nsid = bdev.Nsid;
        _blockSize = bdev.BlockSize;
    }

    public NvmeIoQpair Qpair => _qpair;

    public int Init()
    {
        int rc = IoChannel.Get(_bdev.QpairDevice.Device, out _qpairChannel);
        if (rc == 0)
        {
            _qpair = ((NvmeQpairDevice.ThreadQpair)_qpairChannel!.State!).Qpair;
        }
        return rc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static NvmeRequest* Request(BdevIo* io) => (NvmeRequest*)BdevIo.DriverContext(io);

    public override void Submit(BdevChannel channel, BdevIo* io)
    {
        NvmeRequestKind kind;
        switch (io->Type)
        {
            case BdevIoType.Read:
                kind = NvmeRequestKind.Read;
                break;
            case BdevIoType.Write:
                kind = NvmeRequestKind.Write;
                break;
            case BdevIoType.WriteZeroes:
                kind = NvmeRequestKind.WriteZeroes;
                break;
            case BdevIoType.Unmap:
                kind = NvmeRequestKind.Deallocate;
                break;
            case BdevIoType.Flush:
                kind = NvmeRequestKind.Flush;
                break;
            case BdevIoType.NvmeIo:
                kind = NvmeRequestKind.IoPassthru;
                break;
            case BdevIoType.Reset:
                SubmitReset(io);
                return;
            default: // NvmeAdmin
                SubmitAdmin(io);
                return;
        }
        NvmeRequest* r = Request(io);
        r->Init(kind, _nsid, _blockSize, io->OffsetBlocks, io->NumBlocks, io->Iovs, io->IovCount, &OnRequestDone, io);
        if (kind == NvmeRequestKind.IoPassthru)
        {
            r->Command = (NvmeCommand*)io->NvmeCmd;
        }
        _qpair.Submit(r, io->SubmitTicks);
    }

    /// <summary>The driver's completion of a request: the NVMe status passes to the I/O.</summary>
    private static void OnRequestDone(NvmeRequest* r)
    {
        var io = (BdevIo*)r->Context;
        if ((r->Sct | r->Sc) != 0)
        {
            io->NvmeSct = r->Sct;
            io->NvmeSc = r->Sc;
        }
        if (io->Type == BdevIoType.NvmeIo)
        {
            io->NvmeCdw0 = r->Cdw0;
        }
        BdevChannel.FromIo(io).Complete(io, r->Status);
    }

    // ------------------------------------------------------------------ admin-poll work

    private void SubmitReset(BdevIo* io)
    {
        nint at = (nint)io;
        int rc = _bdev.Controller.RequestReset($"bdev reset of '{_bdev.Name}'",
            r => PostBack((BdevIo*)at, r.Status, default));
        if (rc != 0)
        {
            _channel.Complete(io, rc);
        }
    }

    private void SubmitAdmin(BdevIo* io)
    {
        Iovec* iov = &io->InlineIov;
        nint at = (nint)io;
        _bdev.Controller.Passthru(*(NvmeCommand*)io->NvmeCmd, iov->Base, (int)iov->Length,
            r => PostBack((BdevIo*)at, r.Status, r.Completion));
    }

    /// <summary>Runs on the admin poll: hands the outcome to this channel's thread.</summary>
    private void PostBack(BdevIo* io, int status, NvmeCompletion cpl)
    {
        io->NvmeCdw0 = cpl.Dw0;
        io->NvmeSct = (ushort)cpl.Sct;
        io->NvmeSc = (ushort)cpl.Sc;
        io->Status = status;
        if (_channel.Thread.SendControl(&CompleteOnThread, this, (nint)io) != 0)
        {
            Log.Error($"bdev '{_bdev.Name}': admin completion lost: thread '{_channel.Thread.Name}' takes no messages");
        }
    }

    private static void CompleteOnThread(object? self, nint io)
    {
        var ch = (NvmeChannel)self!;
        ch._channel.Complete((BdevIo*)io, ((BdevIo*)io)->Status);
    }

    /// <summary>Only for a released channel draining: the queue pair's poller does the rest.</summary>
    public override int Poll(BdevChannel channel) => _qpair.Poll();

    public override void Destroy()
    {
        _qpairChannel?.Put();
        _qpairChannel = null;
    }
}
