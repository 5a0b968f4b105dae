using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace NativeBdev.Env;

/// <summary>The library's log: stderr by default, or a host callback
/// <c>void cb(int level, const char *msg, void *ctx)</c>. Never on the hot path.</summary>
internal static unsafe class Log
{
    private static int s_level = (int)LogLevel.Notice;
    private static nint s_callback;
    private static nint s_context;
    private static readonly object s_lock = new();

    public static LogLevel Level
    {
        get => (LogLevel)Volatile.Read(ref s_level);
        set => Volatile.Write(ref s_level, (int)value);
    }

    public static bool Enabled(LogLevel level) => (int)level <= Volatile.Read(ref s_level);

    public static void SetCallback(delegate* unmanaged[Cdecl]<int, byte*, void*, void> callback, void* context)
    {
        lock (s_lock)
        {
            s_callback = (nint)callback;
            s_context = (nint)context;
        }
    }

    public static void Error(string message) => Write(LogLevel.Error, message);
    public static void Warn(string message) => Write(LogLevel.Warn, message);
    public static void Notice(string message) => Write(LogLevel.Notice, message);
    public static void Info(string message) => Write(LogLevel.Info, message);
    public static void Debug(string message) => Write(LogLevel.Debug, message);

    public static void Write(LogLevel level, string message)
    {
        if (!Enabled(level))
        {
            return;
        }
        nint callback;
        nint context;
        lock (s_lock)
        {
            callback = s_callback;
            context = s_context;
        }
        if (callback != 0)
        {
            int max = Encoding.UTF8.GetMaxByteCount(message.Length) + 1;
            byte[] bytes = new byte[max];
            int n = Encoding.UTF8.GetBytes(message, bytes);
            bytes[n] = 0;
            fixed (byte* p = bytes)
            {
                ((delegate* unmanaged[Cdecl]<int, byte*, void*, void>)callback)((int)level, p, (void*)context);
            }
            return;
        }
        string line = "nativebdev: " + LevelName(level) + ": " + message + "\n";
        byte[] utf8 = Encoding.UTF8.GetBytes(line);
        fixed (byte* p = utf8)
        {
            // write(2) directly: Console would start its own machinery and buffer.
            Interop.Libc.syscall(Interop.Libc.SYS_write, 2, (nint)p, utf8.Length, 0, 0, 0);
        }
    }

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Error => "ERROR",
        LogLevel.Warn => "WARN",
        LogLevel.Notice => "NOTICE",
        LogLevel.Info => "INFO",
        _ => "DEBUG",
    };
}
