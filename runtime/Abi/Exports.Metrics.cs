using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Metrics;

namespace NativeBdev.Abi;

/// <summary>The Prometheus metrics endpoint.</summary>
internal static unsafe class MetricsExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_metrics_server_start", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbMetricsServerStart(byte* listenAddr) => NbMetricsServerStartGuarded(listenAddr);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbMetricsServerStartGuarded(byte* listenAddr)
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
            return rc != 0 ? rc : MetricsServer.Start(address);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_metrics_server_get_addr", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbMetricsServerGetAddr(byte* buf, nuint len) => NbMetricsServerGetAddrGuarded(buf, len);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbMetricsServerGetAddrGuarded(byte* buf, nuint len)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            MetricsServer? server = MetricsServer.Current;
            return server == null
                ? LastError.Set(Errno.ENOENT, "no metrics server runs")
                : Guard.CopyOut(server.Endpoint.Text, buf, len);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_metrics_server_stop", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbMetricsServerStop() => NbMetricsServerStopGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbMetricsServerStopGuarded()
    {
        try
        {
            return ForkGuard.InChild ? ForkGuard.Refused : MetricsServer.Stop();
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
