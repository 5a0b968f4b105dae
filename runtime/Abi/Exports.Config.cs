using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Rpc;

namespace NativeBdev.Abi;

/// <summary>SPDK JSON config files: load and save.</summary>
internal static unsafe class ConfigExports
{
    [UnmanagedCallersOnly(EntryPoint = "nbm_config_load", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbConfigLoad(byte* path, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx) =>
        NbConfigLoadGuarded(path, cb, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbConfigLoadGuarded(byte* path, delegate* unmanaged[Cdecl]<void*, int, void> cb, void* ctx)
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
            if (path == null)
            {
                return Guard.Null("path");
            }
            string? file = Guard.String(path, "path", out int rc);
            return rc != 0 ? rc : ConfigFile.Load(file!, StatusCallback.Direct((nint)cb, (nint)ctx));
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_config_save", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbConfigSave(byte* path) => NbConfigSaveGuarded(path);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbConfigSaveGuarded(byte* path)
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
            if (path == null)
            {
                return Guard.Null("path");
            }
            string? file = Guard.String(path, "path", out int rc);
            return rc != 0 ? rc : ConfigFile.Save(file!);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
