using System.Runtime.InteropServices;

namespace NativeBdev.Interop;

/// <summary>The libc calls the runtime makes. Bound through &lt;DirectPInvoke Include="libc"/&gt;
/// under NativeAOT (Debian's libc.so is a linker script, so a dlopen by that name fails) and
/// resolved by the loader under JIT.</summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int PROT_EXEC = 0x4;
    public const int MAP_SHARED = 0x01;
    public const int MAP_PRIVATE = 0x02;
    public const int MAP_FIXED = 0x10;
    public const int MAP_ANONYMOUS = 0x20;
    public const int MAP_NORESERVE = 0x4000;
    public const int MAP_POPULATE = 0x8000;
    public const int MAP_HUGETLB = 0x40000;
    public const int MFD_CLOEXEC = 0x1;
    public const int MFD_HUGETLB = 0x4;
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_TRUNC = 0x200;
    public const int O_DIRECT = 0x4000;
    public const int O_CLOEXEC = 0x80000;
    public const int MADV_WILLNEED = 3;
    public const int MADV_HUGEPAGE = 14;
    public const int MADV_NOHUGEPAGE = 15;
    public const int SYS_write = 1;
    public static readonly nint MAP_FAILED = -1;

    /// <summary>x86-64 Linux signal numbers (asm-generic/signal.h).</summary>
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9, SIGUSR1 = 10, SIGTERM = 15;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int kill(int pid, int sig);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int munmap(void* addr, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int mprotect(void* addr, nuint length, int prot);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int mlock(void* addr, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int munlock(void* addr, nuint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int madvise(void* addr, nuint length, int advice);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int memfd_create(byte* name, uint flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int open(byte* path, int flags, int mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint pread(int fd, void* buf, nuint count, long offset);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint pwrite(int fd, void* buf, nuint count, long offset);

    /// <summary>The calling OS thread's kernel id (what a C host's gettid() returns): how the
    /// owner of a lightweight thread is named in messages.</summary>
    [LibraryImport(Lib)]
    public static partial int gettid();

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sched_setaffinity(int pid, nuint cpusetsize, ulong* mask);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sched_getaffinity(int pid, nuint cpusetsize, ulong* mask);

    [LibraryImport(Lib)]
    public static partial int sched_getcpu();

    [LibraryImport(Lib)]
    public static partial int getpagesize();

    public const int _SC_NPROCESSORS_ONLN = 84;

    [LibraryImport(Lib)]
    public static partial long sysconf(int name);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint syscall(nint number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    [LibraryImport(Lib)]
    public static partial byte* strerror(int errnum);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fstat(int fd, Stat* st);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int lstat(byte* path, Stat* st);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ioctl(int fd, ulong request, void* arg);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int O_NONBLOCK = 0x800;

    public const ulong BLKSSZGET = 0x1268;
    public const ulong BLKGETSIZE64 = 0x80081272;
    public const uint S_IFMT = 0xF000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFSOCK = 0xC000;

    /// <summary>struct stat on x86_64 (144 bytes), the fields used here.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 144)]
    public struct Stat
    {
        [System.Runtime.InteropServices.FieldOffset(0)] public ulong Dev;
        [System.Runtime.InteropServices.FieldOffset(8)] public ulong Ino;
        [System.Runtime.InteropServices.FieldOffset(24)] public uint Mode;
        [System.Runtime.InteropServices.FieldOffset(40)] public ulong Rdev;
        [System.Runtime.InteropServices.FieldOffset(48)] public long Size;
        [System.Runtime.InteropServices.FieldOffset(56)] public long BlkSize;
    }

    /// <summary>The errno of the last failed call made through this class.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();

    public static string StrError(int errnum)
    {
        byte* s = strerror(errnum);
        return s == null ? "errno " + errnum : Marshal.PtrToStringUTF8((nint)s) ?? "errno " + errnum;
    }
}
