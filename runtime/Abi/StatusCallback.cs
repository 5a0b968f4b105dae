using System;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>A C completion <c>void cb(void *ctx, int status)</c> as the <c>Action&lt;int&gt;</c>
/// the core takes; null for a NULL <c>cb</c>, so the core calls nothing.</summary>
internal static unsafe class StatusCallback
{
    /// <summary>Called wherever the core completes the operation.</summary>
    public static Action<int>? Direct(nint cb, nint ctx) =>
        cb == 0 ? null : status => ((delegate* unmanaged[Cdecl]<void*, int, void>)cb)((void*)ctx, status);

    /// <summary>Called on the calling thread if there is one (by message, if the operation
    /// finishes elsewhere), else wherever it finishes: the thread-affine completion the header
    /// promises for nb_bdev_destroy.</summary>
    public static Action<int>? OnCallingThread(nint cb, nint ctx)
    {
        if (cb == 0)
        {
            return null;
        }
        LightweightThread? origin = LightweightThread.Current;
        return status =>
        {
            if (origin == null || origin.IsCurrent || origin.IsExited)
            {
                ((delegate* unmanaged[Cdecl]<void*, int, void>)cb)((void*)ctx, status);
                return;
            }
            var call = new DeferredCall(cb, ctx, status);
            if (origin.SendControl(&DeferredCall.Run, call) != 0)
            {
                DeferredCall.Run(call, 0);
            }
        };
    }

    /// <summary>A completion waiting in the origin thread's message ring.</summary>
    private sealed class DeferredCall(nint cb, nint ctx, int status)
    {
        public static void Run(object? o, nint _)
        {
            var c = (DeferredCall)o!;
            ((delegate* unmanaged[Cdecl]<void*, int, void>)c._cb)((void*)c._ctx, c._status);
        }

        private readonly nint _cb = cb;
        private readonly nint _ctx = ctx;
        private readonly int _status = status;
    }
}
