using System;
using NativeBdev.Bdev;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Modules.Crypto;

/// <summary>SPDK's crypto vbdev: the base's geometry, every block encrypted on the way down and
/// decrypted on the way up with the key it took from the registry (held until Destruct, so the
/// key cannot be destroyed under it). It opens its base through the public bdev API like any
/// host; when the base goes away, so does this bdev.</summary>
internal sealed unsafe class CryptoBdev : Bdev.Bdev
{
    private readonly Bdev.Bdev _base;
    private readonly CryptoKey _key;
    private BdevDesc? _baseDesc;

    public Bdev.Bdev Base => _base;
    public CryptoKey Key => _key;

    public CryptoBdev(string name, Bdev.Bdev baseBdev, CryptoKey key, Guid uuid)
        : base(name, "crypto", baseBdev.BlockSize, baseBdev.BlockCount)
    {
        _base = baseBdev;
        _key = key;
        Uuid = uuid;
        ProductName = "Crypto of " + baseBdev.Name;
        // Reads land in the host's buffers straight from the base: its rules are ours.
        RequiredAlignment = baseBdev.RequiredAlignment;
        NeedsDmaBuffers = baseBdev.NeedsDmaBuffers;
        WriteCache = baseBdev.WriteCache;
        OptimalIoBoundary = baseBdev.OptimalIoBoundary;
    }

    public int OpenBase() => BdevRegistry.Open(_base.Name, write: _base.IoTypeSupported(BdevIoType.Write), null, null,
        OnBaseEvent, out _baseDesc);

    public void CloseBase()
    {
        if (_baseDesc != null && !_baseDesc.Closed)
        {
            BdevRegistry.Close(_baseDesc);
        }
    }

    private void OnBaseEvent(BdevEventType type, Bdev.Bdev b)
    {
        if (type == BdevEventType.Remove)
        {
            BdevRegistry.Destroy(Name, null);
        }
        else if (type == BdevEventType.Resize)
        {
            Resize(b.BlockCount);
        }
    }

    protected override int ResizeBackend(ulong newBlockCount) =>
        newBlockCount == _base.BlockCount ? 0 : _base.Resize(newBlockCount);

    /// <summary>Reads and writes always (a write the base refuses is refused by its channel);
    /// write_zeroes are encrypted writes, so they need only writes; the rest pass through.</summary>
    public override bool IoTypeSupported(BdevIoType type) => type switch
    {
        BdevIoType.Read => _base.IoTypeSupported(BdevIoType.Read),
        BdevIoType.Write or BdevIoType.WriteZeroes => _base.IoTypeSupported(BdevIoType.Write),
        BdevIoType.Flush or BdevIoType.Reset or BdevIoType.Unmap => _base.IoTypeSupported(type),
        _ => false,
    };

    public override string DescribeDriver() =>
        $"base_bdev={_base.Name} key_name={_key.Name} cipher={CryptoKey.CipherName(_key.Cipher.Cipher)} " +
        $"tweak_mode={CryptoKey.LayoutName(_key.Layout)}";

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
        CryptoChannel? c = CryptoChannel.Create(_key, BlockSize, _baseDesc, baseChannel!);
        if (c == null)
        {
            baseChannel!.Put();
        }
        return c;
    }

    public override void Destruct()
    {
        CloseBase();
        CryptoKeyRegistry.Release(_key, Name);
    }

    /// <summary>SPDK's bdev_crypto_create with a named key (the key itself is never written:
    /// SPDK's accel config would carry it in clear).</summary>
    public override void WriteConfig(System.Text.Json.Utf8JsonWriter writer) =>
        BdevConfig.Entry(writer, "bdev_crypto_create", w =>
        {
            w.WriteString("base_bdev_name", _base.Name);
            w.WriteString("name", Name);
            w.WriteString("key_name", _key.Name);
        });
}
