using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>Placeholder until the writer lands: no cluster can be allocated yet.</summary>
internal sealed unsafe class LvolAllocator(LvolStore store) : IDisposable
{
    public int Request(LvolChannel channel, BdevIo* io) =>
        LastError.Set(Errno.ENOTSUP, $"lvol store '{store.Name}': allocating clusters is not supported yet");

    public void Dispose()
    {
    }
}
