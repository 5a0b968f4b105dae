using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Abi;

/// <summary>Helpers every export uses: the catch-all that keeps exceptions from crossing the
/// ABI (TOOLCHAIN pitfall D), handle resolution with a message, and C string reading.</summary>
/// <remarks>Every export has one shape: the [UnmanagedCallersOnly] method only passes its
/// arguments to a [MethodImpl(NoInlining)] method (named after it, ...Guarded) holding the
/// try/catch that calls <see cref="Fail"/> around the work. Whichever export a host calls first
/// starts the runtime inside its own frame, and the stack cookie changes meanwhile: a stack
/// buffer in that frame (stackalloc, a fixed buffer or a struct holding one) fails the cookie
/// check on return and aborts the process (TOOLCHAIN pitfall A). Any export can be the first
/// call, so none keeps anything in its own frame. The few exports called once per I/O hold the
/// catch-all themselves instead (<see cref="HotPathExportAttribute"/>), under the same rule.
/// Either way the try opens with the fork check, <c>if (ForkGuard.InChild) return ...;</c>
/// (<see cref="ForkGuard"/>): in a fork()ed child nothing else may run.
/// tests/unit/Abi/ExportShapeTests.cs checks the shape in the IL; tests/c/first_call.py calls
/// every export first in a fresh process.</remarks>
internal static unsafe class Guard
{
    /// <summary>An exception reached an export: a bug in the library. Log it and turn it
    /// into -EIO (or -ENOMEM for allocation failure) instead of killing the host.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Fail(Exception e)
    {
        if (e is OutOfMemoryException)
        {
            return LastError.Set(Errno.ENOMEM, "out of memory");
        }
        string msg = $"internal error: {e.GetType().Name}: {e.Message}";
        try
        {
            Log.Error(msg + "\n" + e.StackTrace);
        }
        catch
        {
            // logging must not turn one failure into two
        }
        return LastError.Set(Errno.EIO, msg);
    }

    public static T? Resolve<T>(nint handle, HandleType type, out int rc) where T : class
    {
        T? o = HandleTable.Get<T>(handle, type);
        rc = o == null ? Bad(handle, type) : 0;
        return o;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Bad(nint handle, HandleType type) =>
        LastError.Set(handle == 0 ? Errno.EINVAL : Errno.EBADF, HandleTable.Describe(handle, type));

    public static int Null(string what) => LastError.Set(Errno.EINVAL, $"{what} is NULL");

    /// <summary>The size field an options or info struct begins with: at least the field
    /// itself, at most 64 KiB (anything else is garbage, not a newer header).</summary>
    public static int CheckStructSize(nuint size, string field, string type, nuint max = 65536) =>
        size < (nuint)sizeof(nuint) || size > max
            ? LastError.Set(Errno.EINVAL, $"{field} {size} is not a struct size (set it to sizeof(struct {type}))")
            : 0;

    public const int MaxStringBytes = 4096;

    /// <summary>Reads a NUL-terminated UTF-8 string of at most 4 KiB. Null for NULL; sets
    /// <paramref name="rc"/> when the string is too long or not UTF-8.</summary>
    public static string? String(byte* s, string what, out int rc)
    {
        rc = 0;
        if (s == null)
        {
            return null;
        }
        // Never reads past byte MaxStringBytes - 1: the NUL must come within the bound.
        int n = 0;
        while (n < MaxStringBytes && s[n] != 0)
        {
            n++;
        }
        if (n == MaxStringBytes)
        {
            rc = LastError.Set(Errno.ENAMETOOLONG,
                $"{what} is not NUL-terminated within {MaxStringBytes} bytes (strings are at most " +
                $"{MaxStringBytes - 1})");
            return null;
        }
        try
        {
            return new UTF8Encoding(false, true).GetString(s, n);
        }
        catch (DecoderFallbackException)
        {
            rc = LastError.Set(Errno.EILSEQ, $"{what} is not valid UTF-8");
            return null;
        }
    }

    /// <summary>Copies <paramref name="value"/> into a caller's buffer, NUL-terminated and
    /// truncated to fit. Returns the full length in bytes.</summary>
    public static int CopyOut(string value, byte* buf, nuint len)
    {
        int full = Encoding.UTF8.GetByteCount(value);
        if (buf == null || len == 0)
        {
            return full;
        }
        int room = (int)Math.Min(len - 1, int.MaxValue);
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        int n = Math.Min(room, bytes.Length);
        Marshal.Copy(bytes, 0, (nint)buf, n);
        buf[n] = 0;
        return full;
    }
}
