using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Version, last error, logging and the clock: callable before nb_env_init.</summary>
internal static unsafe class BaseExports
{
    public const string Version = "0.1.0";
    private static byte* s_version;

    [UnmanagedCallersOnly(EntryPoint = "nb_version", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* NbVersion() => NbVersionGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* NbVersionGuarded()
    {
        try
        {
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

    [UnmanagedCallersOnly(EntryPoint = "nb_last_error", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* NbLastError() => NbLastErrorGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* NbLastErrorGuarded()
    {
        try
        {
            return LastErrorUtf8();
        }
        catch
        {
            return VersionUtf8() + 5; // "" (the NUL after the version): never NULL
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte* LastErrorUtf8() => LastError.Utf8();

    [UnmanagedCallersOnly(EntryPoint = "nb_log_set_level", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLogSetLevel(int level) => NbLogSetLevelGuarded(level);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbLogSetLevelGuarded(int level)
    {
        try
        {
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

    [UnmanagedCallersOnly(EntryPoint = "nb_log_get_level", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLogGetLevel() => NbLogGetLevelGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbLogGetLevelGuarded()
    {
        try
        {
            return (int)Log.Level;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_log_set_callback", CallConvs = [typeof(CallConvCdecl)])]
    public static int NbLogSetCallback(delegate* unmanaged[Cdecl]<int, byte*, void*, void> fn, void* ctx)
        => NbLogSetCallbackGuarded(fn, ctx);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NbLogSetCallbackGuarded(delegate* unmanaged[Cdecl]<int, byte*, void*, void> fn, void* ctx)
    {
        try
        {
            Log.SetCallback(fn, ctx);
            return 0;
        }
        catch (Exception e)
        {
            return Guard.Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_get_ticks", CallConvs = [typeof(CallConvCdecl)])]
    public static ulong NbGetTicks() => NbGetTicksGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong NbGetTicksGuarded()
    {
        try
        {
            return (ulong)Ticks.Now;
        }
        catch
        {
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "nb_get_ticks_hz", CallConvs = [typeof(CallConvCdecl)])]
    public static ulong NbGetTicksHz() => NbGetTicksHzGuarded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong NbGetTicksHzGuarded()
    {
        try
        {
            return (ulong)Ticks.Hz;
        }
        catch
        {
            return 0;
        }
    }
}
