using System.Runtime.InteropServices;
using NativeBdev.Bdev;

namespace NativeBdev.Modules.Nexus;

/// <summary>A nexus I/O's state in its <see cref="BdevIo"/>'s driver context.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NexusIoContext
{
    public BdevIo* NextHeld;  // the channel's queue of I/O held while reconfiguring or range-locked,
                              // or of completions waiting for the state file
    public long AwaitState;   // a completion held until the state file covers this request
    public ulong Tried;       // a read: the child slots already asked (bit per slot)
    public int InFlight;      // children not yet back
    public int Status;        // a failure the host must see (0: none so far)
    public int Successes;     // healthy children that completed it
    public int Epoch;         // a write: the channel's epoch when it started (rebuild drain)
    public byte Counted;      // a write: counted in the nexus's per-segment in-flight counts
    public byte Started;      // counted in the channel's epoch counts
}
