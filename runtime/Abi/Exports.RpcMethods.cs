using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Rpc;

namespace NativeBdev.Abi;

/// <summary>One request handed to a host method: the call behind an nb_rpc_request handle,
/// answered once. The claim is atomic because the header lets any thread answer: two
/// threads racing on one handle get one answer and one -EBADF.</summary>
internal sealed class RpcHostRequest
{
    private int _answered;

    public RpcHostRequest(RpcCall call) => Call = call;

    public RpcCall Call { get; }

    public nint Handle { get; set; }

    /// <summary>True for the one caller that may answer; the handle is released then.</summary>
    public bool Claim()
    {
        if (Interlocked.Exchange(ref _answered, 1) != 0)
        {
            return false;
        }
        HandleTable.Release(Handle);
        return true;
    }
}

/// <summary>The host's RPC methods (nb_rpc_register_method) and their answers.</summary>
internal static unsafe class RpcMethodExports
{
    /// <summary>nb_rpc_request_send_result's bound: what one connection may hold unsent.</summary>
    private const int MaxResultBytes = RpcSocketConnection.MaxPendingOutput;

    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_register_method", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcRegisterMethod(byte* method, delegate* unmanaged[Cdecl]<void*, nint, byte*, void> fn,
        void* ctx) => NbRpcRegisterMethodGuarded(method, fn, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcRegisterMethodGuarded(byte* method, delegate* unmanaged[Cdecl]<void*, nint, byte*, void> fn,
        void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return Register(method, (nint)fn, (nint)ctx);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Register(byte* method, nint fn, nint ctx)
    {
        if (NbEnvironment.Options == null)
        {
            return NbEnvironment.NotInitialized();
        }
        string? name = Guard.String(method, "method", out int rc);
        if (rc != 0)
        {
            return rc;
        }
        if (name == null)
        {
            return Guard.Null("method");
        }
        return fn == 0 ? Guard.Null("fn") : RpcHostMethods.Register(name, Handler(fn, ctx));
    }

    /// <summary>The C function as the core's handler: a handle for the call, the params text
    /// pinned for the duration of the call.</summary>
    private static RpcHostHandler Handler(nint fn, nint ctx) => (call, paramsJson) =>
    {
        var request = new RpcHostRequest(call);
        request.Handle = HandleTable.Allocate(HandleType.RpcRequest, request);
        fixed (byte* p = paramsJson)
        {
            ((delegate* unmanaged[Cdecl]<void*, nint, byte*, void>)fn)((void*)ctx, request.Handle, p);
        }
    };

    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_unregister_method", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcUnregisterMethod(byte* method) => NbRpcUnregisterMethodGuarded(method);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcUnregisterMethodGuarded(byte* method)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            string? name = Guard.String(method, "method", out int rc);
            if (rc != 0)
            {
                return rc;
            }
            return name == null ? Guard.Null("method") : RpcHostMethods.Unregister(name);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_request_send_result", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcRequestSendResult(nint req, byte* result) => NbRpcRequestSendResultGuarded(req, result);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcRequestSendResultGuarded(nint req, byte* result)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SendResult(req, result);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SendResult(nint req, byte* result)
    {
        RpcHostRequest? r = Guard.Resolve<RpcHostRequest>(req, HandleType.RpcRequest, out int rc);
        if (r == null)
        {
            return rc;
        }
        if (result == null)
        {
            return Guard.Null("result");
        }
        byte[]? json = JsonValue(result, out rc);
        if (json == null)
        {
            return rc;
        }
        if (!r.Claim())
        {
            return Guard.Bad(req, HandleType.RpcRequest);
        }
        r.Call.Result(w => w.WriteRawValue(json, skipInputValidation: true));
        return 0;
    }

    /// <summary>The host's result text, checked to be one JSON value (it goes into the reply
    /// as it is): its bytes, or null and rc.</summary>
    private static byte[]? JsonValue(byte* text, out int rc)
    {
        int n = 0;
        while (n < MaxResultBytes && text[n] != 0)
        {
            n++;
        }
        if (n == MaxResultBytes)
        {
            rc = LastError.Set(Errno.EINVAL, $"result is not NUL-terminated within {MaxResultBytes} bytes");
            return null;
        }
        byte[] json = new ReadOnlySpan<byte>(text, n).ToArray();
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            rc = LastError.Set(Errno.EINVAL, $"result is not one JSON value: {e.Message}");
            return null;
        }
        rc = 0;
        return json;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_rpc_request_send_error", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbRpcRequestSendError(nint req, int code, byte* message) =>
        NbRpcRequestSendErrorGuarded(req, code, message);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbRpcRequestSendErrorGuarded(nint req, int code, byte* message)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SendError(req, code, message);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SendError(nint req, int code, byte* message)
    {
        RpcHostRequest? r = Guard.Resolve<RpcHostRequest>(req, HandleType.RpcRequest, out int rc);
        if (r == null)
        {
            return rc;
        }
        string? text = Guard.String(message, "message", out rc);
        if (rc != 0)
        {
            return rc;
        }
        if (!r.Claim())
        {
            return Guard.Bad(req, HandleType.RpcRequest);
        }
        r.Call.Error(code, text ?? DefaultMessage(code));
        return 0;
    }

    private static string DefaultMessage(int code) => code switch
    {
        RpcError.ParseError => RpcError.ParseErrorMessage,
        RpcError.InvalidRequest => RpcError.InvalidRequestMessage,
        RpcError.MethodNotFound => RpcError.MethodNotFoundMessage,
        RpcError.InvalidParams => RpcError.InvalidParamsMessage,
        RpcError.InternalError => RpcError.InternalErrorMessage,
        < 0 and > -4096 => Libc.StrError(-code),
        _ => "error " + code.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
