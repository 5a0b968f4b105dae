using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Rpc;

namespace NativeBdev.Abi;

/// <summary>The JSON-RPC server.</summary>
internal static unsafe class RpcExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_server_start", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcServerStart(byte* listenAddr) => NbRpcServerStartGuarded(listenAddr);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcServerStartGuarded(byte* listenAddr)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Start(listenAddr);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Start(byte* listenAddr)
    {
        if (NbEnvironment.Options == null)
        {
            return NbEnvironment.NotInitialized();
        }
        string? address = Guard.String(listenAddr, "listen_addr", out int rc);
        return rc != 0 ? rc : RpcService.Start(address);
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_server_get_addr", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcServerGetAddr(byte* buf, nuint len) => NbRpcServerGetAddrGuarded(buf, len);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcServerGetAddrGuarded(byte* buf, nuint len)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            RpcSocketServer? server = RpcService.Current;
            return server == null
                ? LastError.Set(Errno.ENOENT, "no RPC server runs")
                : Guard.CopyOut(server.Endpoint.Text, buf, len);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_server_stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcServerStop() => NbRpcServerStopGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcServerStopGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return RpcService.Stop();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_wait_for_start_init", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcWaitForStartInit(delegate* unmanaged[Cdecl]<void*, void> cb, void* ctx) =>
        NbRpcWaitForStartInitGuarded(cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcWaitForStartInitGuarded(delegate* unmanaged[Cdecl]<void*, void> cb, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (cb == null)
            {
                return Guard.Null("cb");
            }
            RpcService.WaitForStartInit(StartInitCall((nint)cb, (nint)ctx));
            return 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    /// <summary>The host's callback as the action framework_start_init runs (a closure made
    /// here, outside the export's try, which must open with the fork check).</summary>
    private static Action StartInitCall(nint cb, nint ctx) =>
        () => ((delegate* unmanaged[Cdecl]<void*, void>)cb)((void*)ctx);
}
