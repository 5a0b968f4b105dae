using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nbd;

namespace NativeBdev.Abi;

/// <summary>The network NBD server: argument checks, then <see cref="NbdService"/>.</summary>
internal static unsafe class NbdExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_server_start", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdServerStart(byte* listenAddr) => StartGuarded(listenAddr);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int StartGuarded(byte* listenAddr)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (NbEnvironment.Options == null)
            {
                return NbEnvironment.NotInitialized();
            }
            string? address = Guard.String(listenAddr, "listen_addr", out int rc);
            return rc != 0 ? rc : NbdService.Start(address);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_server_get_addr", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdServerGetAddr(byte* buf, nuint len) => GetAddrGuarded(buf, len);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int GetAddrGuarded(byte* buf, nuint len)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            NbdServer? server = NbdService.Current;
            return server == null
                ? LastError.Set(Errno.ENOENT, "no NBD server runs")
                : Guard.CopyOut(server.Endpoint.Text, buf, len);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_server_add_export", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdServerAddExport(byte* name, byte* bdevName, int readOnly, byte* description) =>
        AddExportGuarded(name, bdevName, readOnly, description);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AddExportGuarded(byte* name, byte* bdevName, int readOnly, byte* description)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (name == null)
            {
                return Guard.Null("name");
            }
            if (bdevName == null)
            {
                return Guard.Null("bdev_name");
            }
            string? n = Guard.String(name, "name", out int rc);
            if (rc != 0)
            {
                return rc;
            }
            string? b = Guard.String(bdevName, "bdev_name", out rc);
            if (rc != 0)
            {
                return rc;
            }
            string? d = Guard.String(description, "description", out rc);
            return rc != 0 ? rc : NbdService.AddExport(n, b, readOnly != 0, d);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_server_remove_export", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdServerRemoveExport(byte* name) => RemoveExportGuarded(name);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RemoveExportGuarded(byte* name)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            if (name == null)
            {
                return Guard.Null("name");
            }
            string? n = Guard.String(name, "name", out int rc);
            return rc != 0 ? rc : NbdService.RemoveExport(n);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_server_connection_count", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdServerConnectionCount() => ConnectionCountGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ConnectionCountGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            NbdServer? server = NbdService.Current;
            return server == null ? LastError.Set(Errno.ENOENT, "no NBD server runs") : server.ConnectionCount;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_nbd_server_stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbNbdServerStop() => StopGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int StopGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return NbdService.Stop();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
