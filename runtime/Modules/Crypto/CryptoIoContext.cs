using System.Runtime.InteropServices;
using NativeBdev.Bdev;

namespace NativeBdev.Modules.Crypto;

/// <summary>A crypto I/O's state in its <see cref="BdevIo"/>'s driver context: the bounce
/// buffer a write holds, how far it has got, and its link while it waits for a buffer.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CryptoIoContext
{
    public byte* Bounce;        // the slot's memory, null while none is held
    public int Slot;            // the bounce slot held, -1 for none
    public int Pad;
    public ulong BlocksDone;    // of a write: blocks the base has acknowledged
    public ulong BlocksInChild; // of a write: blocks of the child in flight
    public BdevIo* NextWaiting; // the channel's queue of writes waiting for a bounce slot
}
