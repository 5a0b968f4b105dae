namespace NativeBdev.Abi;

/// <summary>What kind of object a handle names; part of the handle value, so a handle of
/// one type passed where another is expected is caught.</summary>
internal enum HandleType : byte
{
    Thread = 1,
    Poller = 2,
    IoChannel = 3,
    Mempool = 4,
    Bdev = 5,
    BdevDesc = 6,
    BdevIo = 7,
    RpcRequest = 8,
}
