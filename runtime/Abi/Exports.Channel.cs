using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>io devices and io channels.</summary>
internal static unsafe class ChannelExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_io_device_register", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbIoDeviceRegister(void* ioDevice, delegate* unmanaged[Cdecl]<void*, void*, int> create,
        delegate* unmanaged[Cdecl]<void*, void*, void> destroy, uint ctxSize, byte* name)
        => NbIoDeviceRegisterGuarded(ioDevice, create, destroy, ctxSize, name);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbIoDeviceRegisterGuarded(void* ioDevice, delegate* unmanaged[Cdecl]<void*, void*, int> create,
        delegate* unmanaged[Cdecl]<void*, void*, void> destroy, uint ctxSize, byte* name)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Register(ioDevice, create, destroy, ctxSize, name);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    public const uint MaxContextSize = 1u << 24;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Register(void* ioDevice, delegate* unmanaged[Cdecl]<void*, void*, int> create,
        delegate* unmanaged[Cdecl]<void*, void*, void> destroy, uint ctxSize, byte* name)
    {
        if (!NbEnvironment.IsInitialized)
        {
            return NbEnvironment.NotInitialized();
        }
        if (ioDevice == null)
        {
            return Guard.Null("io_device");
        }
        if (ctxSize > MaxContextSize)
        {
            return LastError.Set(Errno.EINVAL, $"ctx_size {ctxSize} is more than {MaxContextSize} bytes");
        }
        string? n = Guard.String(name, "name", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        return IoDevice.Register(new NativeIoDevice((nint)ioDevice, n ?? $"0x{(nint)ioDevice:x}", (int)ctxSize,
            create, destroy));
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_io_device_unregister", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbIoDeviceUnregister(void* ioDevice, delegate* unmanaged[Cdecl]<void*, void> done)
        => NbIoDeviceUnregisterGuarded(ioDevice, done);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbIoDeviceUnregisterGuarded(void* ioDevice, delegate* unmanaged[Cdecl]<void*, void> done)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Unregister(ioDevice, done);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Unregister(void* ioDevice, delegate* unmanaged[Cdecl]<void*, void> done)
    {
        if (ioDevice == null)
        {
            return Guard.Null("io_device");
        }
        IoDevice? d = IoDevice.Find((nint)ioDevice);
        if (d is not NativeIoDevice)
        {
            return LastError.Set(Errno.ENOENT, $"io device 0x{(nint)ioDevice:x} is not registered");
        }
        nint fn = (nint)done;
        nint key = (nint)ioDevice;
        return d.Unregister(fn == 0 ? null : () => ((delegate* unmanaged[Cdecl]<void*, void>)fn)((void*)key));
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_get_io_channel", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbGetIoChannel(void* ioDevice) => NbGetIoChannelGuarded(ioDevice);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbGetIoChannelGuarded(void* ioDevice)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            return GetChannel(ioDevice);
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint GetChannel(void* ioDevice)
    {
        if (ioDevice == null)
        {
            Guard.Null("io_device");
            return 0;
        }
        IoDevice? d = IoDevice.Find((nint)ioDevice);
        if (d is not NativeIoDevice)
        {
            LastError.Set(Errno.ENOENT, $"io device 0x{(nint)ioDevice:x} is not registered");
            return 0;
        }
        return IoChannel.Get(d, out IoChannel? ch) == 0 ? ch!.Handle : 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_put_io_channel", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbPutIoChannel(nint ch) => NbPutIoChannelGuarded(ch);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbPutIoChannelGuarded(nint ch)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            IoChannel? c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out int rc);
            return c == null ? rc : c.Put();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_io_channel_get_ctx", CallConvs = [typeof(CallConvCdecl)])]
    public static void* NbIoChannelGetCtx(nint ch) => NbIoChannelGetCtxGuarded(ch);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void* NbIoChannelGetCtxGuarded(nint ch)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return null;
            }
            IoChannel? c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out _);
            return c == null ? null : c.Context;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return null;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_io_channel_get_thread", CallConvs = [typeof(CallConvCdecl)])]
    public static nint NbIoChannelGetThread(nint ch) => NbIoChannelGetThreadGuarded(ch);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static nint NbIoChannelGetThreadGuarded(nint ch)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return 0;
            }
            IoChannel? c = Guard.Resolve<IoChannel>(ch, HandleType.IoChannel, out _);
            return c == null ? 0 : c.Thread.Handle;
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_for_each_channel", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbForEachChannel(void* ioDevice, delegate* unmanaged[Cdecl]<nint, void*, int> fn, void* ctx,
        delegate* unmanaged[Cdecl]<void*, int, void> cpl) => NbForEachChannelGuarded(ioDevice, fn, ctx, cpl);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbForEachChannelGuarded(void* ioDevice, delegate* unmanaged[Cdecl]<nint, void*, int> fn,
        void* ctx, delegate* unmanaged[Cdecl]<void*, int, void> cpl)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return ForEachChannel(ioDevice, fn, ctx, cpl);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ForEachChannel(void* ioDevice, delegate* unmanaged[Cdecl]<nint, void*, int> fn, void* ctx,
        delegate* unmanaged[Cdecl]<void*, int, void> cpl)
    {
        if (ioDevice == null)
        {
            return Guard.Null("io_device");
        }
        if (fn == null)
        {
            return Guard.Null("fn");
        }
        IoDevice? d = IoDevice.Find((nint)ioDevice);
        if (d is not NativeIoDevice)
        {
            return LastError.Set(Errno.ENOENT, $"io device 0x{(nint)ioDevice:x} is not registered");
        }
        nint f = (nint)fn, c = (nint)cpl, a = (nint)ctx;
        return d.ForEachChannel(
            ch => ((delegate* unmanaged[Cdecl]<nint, void*, int>)f)(ch.Handle, (void*)a),
            status =>
            {
                if (c != 0)
                {
                    ((delegate* unmanaged[Cdecl]<void*, int, void>)c)((void*)a, status);
                }
            });
    }
}
