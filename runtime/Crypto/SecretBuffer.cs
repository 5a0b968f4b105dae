using System;
using NativeBdev.Interop;

namespace NativeBdev.Crypto;

/// <summary>A page for key material on its way in (the decoded key bytes between the caller's
/// hex and the cipher's key schedule): mapped on its own, locked so it never reaches swap,
/// advised MADV_DONTDUMP so it never reaches a core dump, and zeroed before it is unmapped.
/// A refused mlock (an ordinary user's RLIMIT_MEMLOCK) leaves it usable: it is zeroed at once
/// after use either way.</summary>
internal sealed unsafe class SecretBuffer : IDisposable
{
    public const int Size = 4096;
    private const int MADV_DONTDUMP = 16;
    private byte* _page;

    private SecretBuffer(byte* page) => _page = page;

    public static int Create(out SecretBuffer? buffer)
    {
        buffer = null;
        void* p = Libc.mmap(null, Size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if ((nint)p == Libc.MAP_FAILED)
        {
            return Env.LastError.Set(Errno.ENOMEM, "no memory for a key buffer (mmap of one page failed)");
        }
        _ = Libc.madvise(p, Size, MADV_DONTDUMP);
        _ = Libc.mlock(p, Size);
        buffer = new SecretBuffer((byte*)p);
        return 0;
    }

    public Span<byte> Span(int offset, int length) => new(_page + offset, length);

    public void Dispose()
    {
        if (_page == null)
        {
            return;
        }
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(new Span<byte>(_page, Size));
        _ = Libc.munlock(_page, Size);
        _ = Libc.munmap(_page, Size);
        _page = null;
    }
}
