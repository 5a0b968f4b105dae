using System.Runtime.InteropServices;

namespace NativeBdev.Interop;

/// <summary>The BSD socket and epoll calls of libc, with the structs and constants they take
/// (sys/socket.h, netinet/in.h, netinet/tcp.h, sys/un.h, sys/epoll.h); checked against the
/// headers by tests/unit/Abi/KernelLayoutTests.cs.</summary>
internal static unsafe partial class SocketAbi
{
    private const string Lib = "libc";

    public const int AF_UNIX = 1;
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int SOCK_STREAM = 1;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;
    public const int SO_ERROR = 4;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUF = 8;
    public const int IPPROTO_TCP = 6;
    public const int IPPROTO_IPV6 = 41;
    public const int IPV6_V6ONLY = 26;
    public const int TCP_NODELAY = 1;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;

    /// <summary>struct sockaddr_in; the port and address in network byte order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrIn
    {
        public ushort Family;
        public ushort Port;
        public uint Addr;
        public ulong Zero;
    }

    /// <summary>struct sockaddr_in6.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrIn6
    {
        public ushort Family;
        public ushort Port;
        public uint Flowinfo;
        public fixed byte Addr[16];
        public uint ScopeId;
    }

    /// <summary>struct sockaddr_un: a path of at most 107 bytes and its terminating zero.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrUn
    {
        public const int PathCapacity = 108;
        public ushort Family;
        public fixed byte Path[PathCapacity];
    }

    /// <summary>struct msghdr, for a gathered send (no ancillary data).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Msghdr
    {
        public void* Name;
        public uint NameLength;
        public Iovec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct epoll_event, packed on x86-64 (the kernel's __EPOLL_PACKED).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int bind(int fd, void* addr, uint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int accept4(int fd, void* addr, uint* length, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int connect(int fd, void* addr, uint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, uint length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockname(int fd, void* addr, uint* length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint recv(int fd, void* buffer, nuint length, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint send(int fd, void* buffer, nuint length, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint sendmsg(int fd, Msghdr* message, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    public const short POLLIN = 0x001;
    public const short POLLOUT = 0x004;

    /// <summary>Waits for one descriptor: only off the reactors (a fabric's connection
    /// handshake on the controller's admin thread).</summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_wait(int epfd, EpollEvent* events, int max, int timeoutMs);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int unlink(byte* path);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int chmod(byte* path, uint mode);
}
