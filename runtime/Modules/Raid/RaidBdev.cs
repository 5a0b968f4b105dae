using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Raid;

/// <summary>SPDK's raid bdev at level raid0 or concat ("Raid Volume"): its base bdevs opened
/// and claimed through the public bdev API, the layout that maps its blocks onto them. It is
/// online from creation (every base is named and present: SPDK's configuring state, bases
/// arriving later, is not kept) and goes away when any base does (SPDK's raid0 and concat go
/// offline on the loss of one base).</summary>
internal sealed unsafe class RaidBdev : Bdev.Bdev
{
    private readonly Bdev.Bdev[] _bases;
    private readonly BdevDesc?[] _descs;

    public RaidLevel Level { get; }
    public uint StripSizeKb { get; }
    public RaidLayout Layout { get; }
    public ReadOnlySpan<Bdev.Bdev> Bases => _bases;

    public RaidBdev(string name, RaidLevel level, uint stripSizeKb, RaidLayout layout, Bdev.Bdev[] bases, Guid uuid)
        : base(name, "raid", bases[0].BlockSize, layout.BlockCount)
    {
        Level = level;
        StripSizeKb = stripSizeKb;
        Layout = layout;
        _bases = bases;
        _descs = new BdevDesc?[bases.Length];
        Uuid = uuid;
        ProductName = "Raid Volume";
        uint align = 1;
        bool dma = false, cache = false;
        foreach (Bdev.Bdev b in bases)
        {
            align = Math.Max(align, b.RequiredAlignment);
            dma |= b.NeedsDmaBuffers;
            cache |= b.WriteCache;
        }
        RequiredAlignment = align;
        NeedsDmaBuffers = dma;
        WriteCache = cache;
        OptimalIoBoundary = stripSizeKb * 1024 / bases[0].BlockSize;
    }

    public static string LevelName(RaidLevel level) => level == RaidLevel.Raid0 ? "raid0" : "concat";

    /// <summary>Opens and claims every base; on a failure the ones opened are closed again.</summary>
    public int OpenBases()
    {
        for (int i = 0; i < _bases.Length; i++)
        {
            int rc = BdevRegistry.Open(_bases[i].Name, write: true, null, null, OnBaseEvent, out _descs[i]);
            if (rc == 0 && (rc = BdevRegistry.Claim(_descs[i]!, "raid")) != 0)
            {
                BdevRegistry.Close(_descs[i]!);
                _descs[i] = null;
            }
            if (rc != 0)
            {
                int said = LastError.Errno;
                string message = LastError.Message;
                CloseBases();
                LastError.Set(said, message);
                return rc;
            }
        }
        return 0;
    }

    public void CloseBases()
    {
        for (int i = 0; i < _descs.Length; i++)
        {
            if (_descs[i] is { Closed: false } d)
            {
                BdevRegistry.Close(d);
            }
            _descs[i] = null;
        }
    }

    private void OnBaseEvent(BdevEventType type, Bdev.Bdev b)
    {
        if (type == BdevEventType.Remove)
        {
            Log.Notice($"raid '{Name}': base bdev '{b.Name}' is going away: the raid goes too");
            BdevRegistry.Destroy(Name, null);
        }
    }

    /// <summary>Reads and writes always; the rest when every base takes it.</summary>
    public override bool IoTypeSupported(BdevIoType type)
    {
        if (type is not (BdevIoType.Read or BdevIoType.Write or BdevIoType.Unmap or BdevIoType.Flush
            or BdevIoType.Reset or BdevIoType.WriteZeroes))
        {
            return false;
        }
        foreach (Bdev.Bdev b in _bases)
        {
            if (!b.IoTypeSupported(type))
            {
                return false;
            }
        }
        return true;
    }

    public override string DescribeDriver() =>
        $"raid_level={LevelName(Level)} strip_size_kb={StripSizeKb} base_bdevs={string.Join(",", BaseNames())}";

    public string[] BaseNames()
    {
        var names = new string[_bases.Length];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] = _bases[i].Name;
        }
        return names;
    }

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        var ioChannels = new IoChannel[_bases.Length];
        var descs = new BdevDesc[_bases.Length];
        for (int i = 0; i < _bases.Length; i++)
        {
            if (_descs[i] is not { Closed: false } d || IoChannel.Get(_bases[i].IoDevice, out IoChannel? c) != 0)
            {
                if (_descs[i] is not { Closed: false })
                {
                    LastError.Set(Errno.ENODEV, $"base bdev '{_bases[i].Name}' is closed");
                }
                for (int j = 0; j < i; j++)
                {
                    ioChannels[j].Put();
                }
                return null;
            }
            descs[i] = d;
            ioChannels[i] = c!;
        }
        return new RaidChannel(Layout, descs, ioChannels, BlockSize);
    }

    public override void Destruct() => CloseBases();

    /// <summary>SPDK's bdev_raid_create, as its write_config_json writes it (checked against
    /// spdk_tgt's save_config in fixtures/rpc/055).</summary>
    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer) =>
        BdevConfig.Entry(writer, "bdev_raid_create", w =>
        {
            w.WriteString("name", Name);
            w.WriteString("uuid", Uuid.ToString());
            w.WriteNumber("strip_size_kb", StripSizeKb);
            w.WriteString("raid_level", LevelName(Level));
            w.WriteStartArray("base_bdevs"); // SPDK writes superblock only when it is on
            foreach (Bdev.Bdev b in _bases)
            {
                w.WriteStringValue(b.Name);
            }
            w.WriteEndArray();
        });
}
