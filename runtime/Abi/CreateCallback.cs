using System.Runtime.InteropServices;

namespace NativeBdev.Abi;

/// <summary>A C <c>nb_bdev_create_cb(void *ctx, int status, const char *name)</c>: the name
/// as NUL-terminated UTF-8 for the length of the call, NULL on failure.</summary>
internal static unsafe class CreateCallback
{
    public static void Invoke(nint cb, nint ctx, int status, string? name)
    {
        var fn = (delegate* unmanaged[Cdecl]<void*, int, byte*, void>)cb;
        if (status != 0 || name == null)
        {
            fn((void*)ctx, status, null);
            return;
        }
        byte* utf8 = (byte*)Marshal.StringToCoTaskMemUTF8(name);
        try
        {
            fn((void*)ctx, status, utf8);
        }
        finally
        {
            Marshal.FreeCoTaskMem((nint)utf8);
        }
    }
}
