using System;
using System.Runtime.InteropServices;
using System.Text;

namespace NativeBdev.Env;

/// <summary>The thread-local "what went wrong" behind <c>nb_last_error()</c>. Every failing
/// path sets it before returning a negative errno. Setting a constant string allocates
/// nothing, so flow-control errors on the I/O path (-ENOMEM, -EAGAIN) stay allocation-free.</summary>
internal static unsafe class LastError
{
    private const int BufferSize = 1024;

    [ThreadStatic] private static string? t_message;
    [ThreadStatic] private static int t_errno;
    [ThreadStatic] private static int t_sequence;
    [ThreadStatic] private static byte* t_buffer;
    [ThreadStatic] private static string? t_encoded;

    public static string Message => t_message ?? "";

    /// <summary>The errno of the last <see cref="Set"/> on this thread.</summary>
    public static int Errno => t_errno;

    /// <summary>Counts <see cref="Set"/> calls on this thread: a caller that reads it before
    /// calling something that reports failure without an errno (a module's channel factory
    /// returning null) learns afterwards whether that something said why.</summary>
    public static int Sequence => t_sequence;

    /// <summary>Records the message and returns <c>-errno</c>, so callers can write
    /// <c>return LastError.Set(Errno.EINVAL, "...")</c>.</summary>
    public static int Set(int errno, string message)
    {
        t_message = message;
        t_errno = errno;
        t_sequence++;
        return -errno;
    }

    public static void Clear() => t_message = null;

    /// <summary>The message as a NUL-terminated UTF-8 string owned by this OS thread, valid
    /// until the next call on the same thread.</summary>
    public static byte* Utf8()
    {
        if (t_buffer == null)
        {
            // One buffer per OS thread for the process's life: nb_last_error must never fail.
            t_buffer = (byte*)NativeMemory.AllocZeroed(BufferSize);
        }
        string message = Message;
        if (!ReferenceEquals(message, t_encoded))
        {
            // Messages quote what the host passed in: control characters (an embedded NUL
            // would cut the C string short) become '?', and a message too long for the buffer
            // is cut at a character boundary rather than losing everything after the quote.
            var span = new Span<byte>(t_buffer, BufferSize - 1);
            string text = message.Length <= 900 ? message : message[..500] + " [...] " + message[^380..];
            int n = 0;
            foreach (Rune r in text.EnumerateRunes())
            {
                Rune c = r.Value < 0x20 || r.Value == 0x7f ? new Rune('?') : r;
                if (n + c.Utf8SequenceLength > span.Length)
                {
                    break;
                }
                n += c.EncodeToUtf8(span[n..]);
            }
            t_buffer[n] = 0;
            t_encoded = message;
        }
        return t_buffer;
    }
}
