using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Version, last error and logging: callable before nb_env_init. The clock,
/// nb_get_ticks and nb_get_ticks_hz, is C (runtime/Native/ticks.c).</summary>
internal static unsafe class BaseExports
{
    public const string Version = "0.1.0";
    private static byte* s_version;

    [UnmanagedCallersOnly(EntryPoint = "nbm_version", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* NbVersion() => NbVersionGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* NbVersionGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return null;
            }
            return VersionUtf8();
        }
        catch (Exception e)
        {
            Guard.Fail(e);
            return null;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* VersionUtf8()
    {
        if (s_version == null)
        {
            byte* p = (byte*)NativeMemory.AllocZeroed(16);
            for (int i = 0; i < Version.Length; i++)
            {
                p[i] = (byte)Version[i];
            }
            s_version = p;
        }
        return s_version;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_last_error", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* NbLastError() => NbLastErrorGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* NbLastErrorGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Message;
            }
            return LastErrorUtf8();
        }
        catch
        {
            return VersionUtf8() + 5; // "" (the NUL after the version): never NULL
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* LastErrorUtf8() => LastError.Utf8();

    [UnmanagedCallersOnly(EntryPoint = "nbm_log_set_level", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLogSetLevel(int level) => NbLogSetLevelGuarded(level);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbLogSetLevelGuarded(int level)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return SetLevel(level);
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static int SetLevel(int level)
    {
        if (level < (int)LogLevel.Error || level > (int)LogLevel.Debug)
        {
            return LastError.Set(Errno.EINVAL, $"log level {level} is out of range (0 error .. 4 debug)");
        }
        Log.Level = (LogLevel)level;
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_log_get_level", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLogGetLevel() => NbLogGetLevelGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbLogGetLevelGuarded()
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            return (int)Log.Level;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nbm_log_set_callback", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLogSetCallback(delegate* unmanaged[Cdecl]<int, byte*, void*, void> fn, void* ctx)
        => NbLogSetCallbackGuarded(fn, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbLogSetCallbackGuarded(delegate* unmanaged[Cdecl]<int, byte*, void*, void> fn, void* ctx)
    {
        try
        {
            if (ForkGuard.InChild)
            {
                return ForkGuard.Refused;
            }
            Log.SetCallback(fn, ctx);
            return 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }
}
