using System;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>A virtual bdev that forwards every I/O to a base bdev it opened through the
/// public bdev API, like any host: one descriptor, one base channel per thread (SPDK's
/// passthru). The loopback, error and delay modules are this plus their own name and
/// rules; it lives in the bdev layer so that they share it without knowing each other.
/// When the base goes away, so does this bdev; base resizes and media events pass up.</summary>
internal sealed unsafe class PassthroughBdev : Bdev
{
    private readonly Bdev _base;
    private BdevDesc? _baseDesc;

    public Bdev Base => _base;

    public PassthroughBdev(string name, string module, Bdev baseBdev, Guid uuid, string product)
        : base(name, module, baseBdev.BlockSize, baseBdev.BlockCount)
    {
        _base = baseBdev;
        Uuid = uuid;
        ProductName = product;
        RequiredAlignment = baseBdev.RequiredAlignment;
        WriteCache = baseBdev.WriteCache;
        OptimalIoBoundary = baseBdev.OptimalIoBoundary;
    }

    /// <summary>What the loopback, error and delay factories share: the base named by the
    /// URI's path, <c>name=</c> (else <paramref name="defaultName"/> of the base's name) and
    /// <c>uuid=</c>; open the base, register. The caller reads its own parameters first;
    /// <paramref name="known"/> lists every parameter the scheme takes.</summary>
    public static int CreateOver(BdevUri uri, string module, Func<string, string> defaultName, string product,
        string known, out PassthroughBdev? bdev)
    {
        bdev = null;
        string baseName = uri.Name;
        if (baseName.Length == 0)
        {
            return LastError.Set(Errno.EINVAL, $"{uri.Scheme}:/// needs the name of an existing bdev as its path");
        }
        string n = uri.Get("name") ?? defaultName(baseName);
        Guid uuid = Guid.NewGuid();
        int rc = BdevRegistry.CheckName(n);
        if (rc != 0 || (rc = uri.GetUuid(ref uuid)) != 0 || (rc = uri.CheckAllUsed(known)) != 0)
        {
            return rc;
        }
        Bdev? b = BdevRegistry.Find(baseName);
        if (b == null)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{baseName}' for {uri.Scheme}:// to sit on");
        }
        var pt = new PassthroughBdev(n, module, b, uuid, product + b.Name);
        if ((rc = pt.OpenBase()) != 0)
        {
            return rc;
        }
        if ((rc = BdevRegistry.Register(pt)) != 0)
        {
            pt.CloseBase();
            return rc;
        }
        bdev = pt;
        return 0;
    }

    /// <summary>Writable unless the base takes no writes (then this bdev takes none either:
    /// <see cref="IoTypeSupported"/> is the base's).</summary>
    public int OpenBase() => BdevRegistry.Open(_base.Name, write: _base.IoTypeSupported(BdevIoType.Write), null, null,
        OnBaseEvent, out _baseDesc);

    public void CloseBase()
    {
        if (_baseDesc != null && !_baseDesc.Closed)
        {
            BdevRegistry.Close(_baseDesc);
        }
    }

    private void OnBaseEvent(BdevEventType type, Bdev b)
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
    private void ForwardMediaEvents(Bdev b)
    {
        var ranges = new (ulong Offset, ulong Blocks)[64];
        int n;
        while ((n = BdevRegistry.TakeMediaEvents(b, ranges)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                if (BdevRegistry.NotifyMediaManagement(this, ranges[i].Offset, ranges[i].Blocks) != 0)
                {
                    Log.Warn($"bdev '{Name}': media event {ranges[i].Offset}+{ranges[i].Blocks} of base '" +
                             $"{b.Name}' dropped: {LastError.Message}");
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

    /// <summary>The config entry of the module that made this bdev (passthru, error, delay):
    /// it knows its own call and parameters.</summary>
    public Action<System.Text.Json.Utf8JsonWriter, PassthroughBdev>? ConfigWriter { get; set; }

    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer) => ConfigWriter?.Invoke(writer, this);

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
            int rc = _base.SubmitChild(_baseDesc, io, io->Type, iovs, io->IovCount, null, io->OffsetBlocks,
                io->NumBlocks);
            if (rc != 0)
            {
                channel.Complete(io, rc);
            }
        }

        // The base I/O completes this bdev's I/O through BdevModuleChannel.ChildDone's default.

        public override void Destroy() => _baseIoChannel.Put();
    }
}
