using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Loopback;

/// <summary>bdev:///base?name=&amp;uuid= and loopback:///base?name=&amp;uuid= — a passthrough
/// bdev over an existing one (SPDK's passthru, Mayastor's loopback devices). It opens its
/// base through the public bdev API like any host: one descriptor, one base channel per
/// thread. When the base goes away, so does the alias. Default name: "&lt;base&gt;_loop".</summary>
internal sealed class LoopbackModule : IBdevModule
{
    public string Name => "loopback";
    public ReadOnlySpan<string> Schemes => new[] { "bdev", "loopback" };

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        string baseName = uri.Name;
        if (baseName.Length == 0)
        {
            return LastError.Set(Errno.EINVAL, $"{uri.Scheme}:/// needs the name of an existing bdev as its path");
        }
        string n = uri.Get("name") ?? baseName + "_loop";
        int rc = BdevRegistry.CheckName(n);
        Guid uuid = Guid.NewGuid();
        if (rc != 0 || (rc = uri.GetUuid(ref uuid)) != 0 || (rc = uri.CheckAllUsed("name, uuid")) != 0)
        {
            return rc;
        }
        Bdev.Bdev? baseBdev = BdevRegistry.Find(baseName);
        if (baseBdev == null)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{baseName}' to alias");
        }
        var bdev = new LoopbackBdev(n, baseBdev, uuid);
        if ((rc = bdev.OpenBase()) != 0)
        {
            return rc;
        }
        if ((rc = BdevRegistry.Register(bdev)) != 0)
        {
            bdev.CloseBase();
            return rc;
        }
        name = n;
        return 0;
    }
}

internal sealed unsafe class LoopbackBdev : Bdev.Bdev
{
    private readonly Bdev.Bdev _base;
    private BdevDesc? _baseDesc;

    public LoopbackBdev(string name, Bdev.Bdev baseBdev, Guid uuid)
        : base(name, "loopback", baseBdev.BlockSize, baseBdev.BlockCount)
    {
        _base = baseBdev;
        Uuid = uuid;
        ProductName = "Loopback of " + baseBdev.Name;
        RequiredAlignment = baseBdev.RequiredAlignment;
        WriteCache = baseBdev.WriteCache;
        OptimalIoBoundary = baseBdev.OptimalIoBoundary;
    }

    public int OpenBase() => BdevRegistry.Open(_base.Name, write: true, null, null, OnBaseEvent, out _baseDesc);

    public void CloseBase()
    {
        if (_baseDesc != null && !_baseDesc.Closed)
        {
            BdevRegistry.Close(_baseDesc);
        }
    }

    private void OnBaseEvent(BdevEventType type, Bdev.Bdev b)
    {
        switch (type)
        {
            case BdevEventType.Remove:
                BdevRegistry.Destroy(Name, null);
                break;
            case BdevEventType.Resize:
                Resize(b.BlockCount);
                break;
            case BdevEventType.MediaManagement:
                ForwardMediaEvents(b);
                break;
        }
    }

    /// <summary>Moves the base's pending ranges onto this bdev, so that this bdev's
    /// descriptors read them (nb_bdev_get_media_events reads the descriptor's own bdev) and
    /// the base's bounded queue does not fill up with ranges nobody takes.</summary>
    private void ForwardMediaEvents(Bdev.Bdev b)
    {
        var ranges = new (ulong Offset, ulong Blocks)[64];
        int n;
        while ((n = BdevRegistry.TakeMediaEvents(b, ranges)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                if (BdevRegistry.NotifyMediaManagement(this, ranges[i].Offset, ranges[i].Blocks) != 0)
                {
                    Log.Warn($"bdev '{Name}': media event {ranges[i].Offset}+{ranges[i].Blocks} of base '{b.Name}' dropped: {LastError.Message}");
                }
            }
        }
    }

    protected override int ResizeBackend(ulong newBlockCount) =>
        newBlockCount == _base.BlockCount ? 0 : _base.Resize(newBlockCount);

    public override bool IoTypeSupported(BdevIoType type) => _base.IoTypeSupported(type);

    public override string DescribeDriver() => "base_bdev=" + _base.Name;

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        if (_baseDesc == null || _baseDesc.Closed)
        {
            LastError.Set(Errno.ENODEV, $"base bdev '{_base.Name}' is closed");
            return null;
        }
        if (IoChannel.Get(_base.IoDevice, out IoChannel? baseChannel) != 0)
        {
            return null;
        }
        return new LoopbackChannel(_baseDesc, baseChannel!);
    }

    public override void Destruct() => CloseBase();

    private sealed class LoopbackChannel : BdevModuleChannel
    {
        private readonly BdevDesc _baseDesc;
        private readonly IoChannel _baseIoChannel;
        private readonly BdevChannel _base;

        public LoopbackChannel(BdevDesc baseDesc, IoChannel baseChannel)
        {
            _baseDesc = baseDesc;
            _baseIoChannel = baseChannel;
            _base = (BdevChannel)baseChannel.State!;
        }

        public override void Submit(BdevChannel channel, BdevIo* io)
        {
            Iovec* iovs = io->IovCount > 0 ? io->Iovs : null;
            int rc = _base.Submit(_baseDesc, io->Type, iovs, io->IovCount, null, io->OffsetBlocks, io->NumBlocks,
                (nint)(delegate*<BdevIo*, int, object?, nint, void>)&OnBaseDone, (nint)io, channel, managed: true);
            if (rc != 0)
            {
                channel.CompleteDeferred(io, rc);
            }
        }

        private static void OnBaseDone(BdevIo* baseIo, int status, object? ctx, nint arg)
        {
            var io = (BdevIo*)arg;
            io->NvmeCdw0 = baseIo->NvmeCdw0;
            io->NvmeSct = baseIo->NvmeSct;
            io->NvmeSc = baseIo->NvmeSc;
            ((BdevChannel)ctx!).Complete(io, status);
        }

        public override void Destroy() => _baseIoChannel.Put();
    }
}
