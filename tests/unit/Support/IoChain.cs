using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Tests.Support;

/// <summary>Keeps up to <c>depth</c> I/Os (alternating 4 KiB writes and reads) in flight,
/// each started from the completion of an earlier one.</summary>
internal sealed unsafe class IoChain(BdevChannel channel, BdevDesc desc, nint buf, ulong blocks)
{
    private static readonly nint s_callback = (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnDone;
    private GCHandle _self;
    private int _remaining;
    private ulong _next;
    public int Completed;
    public int Errors;

    /// <summary>Runs <paramref name="count"/> I/Os; the bytes this OS thread allocated meanwhile.</summary>
    public long Run(LightweightThread t, int count, int depth)
    {
        if (!_self.IsAllocated)
        {
            _self = GCHandle.Alloc(this); // the callbacks' argument, made once: nothing per I/O
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        _remaining = count;
        Completed = 0;
        LightweightThread.Bind(t);
        for (int i = 0; i < depth && _remaining > 0; i++)
        {
            SubmitNext();
        }
        LightweightThread.Bind(null);
        long deadline = Ticks.Now + 60 * Ticks.Hz;
        while (Completed < count && Ticks.Now < deadline)
        {
            if (!t.TryEnterPoll())
            {
                break;
            }
            t.Poll(0, 0);
            t.ExitPoll();
        }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private void SubmitNext()
    {
        _remaining--;
        ulong n = _next++;
        BdevIoType type = (n & 1) == 0 ? BdevIoType.Write : BdevIoType.Read;
        ulong offset = n * 8 % (blocks - 8);
        if (channel.Submit(desc, type, null, 0, (void*)buf, offset, 8, s_callback, GCHandle.ToIntPtr(_self)) != 0)
        {
            Errors++;
            Completed++;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnDone(BdevIo* io, int status, void* arg)
    {
        var c = (IoChain)GCHandle.FromIntPtr((nint)arg).Target!;
        c.Completed++;
        if (status != 0)
        {
            c.Errors++;
        }
        if (c._remaining > 0)
        {
            c.SubmitNext();
        }
    }
}
