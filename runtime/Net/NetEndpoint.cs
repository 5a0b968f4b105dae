using System;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Net;

/// <summary>An address to listen on or connect to, parsed from the forms SPDK's and
/// Mayastor's users write: <c>/path</c> or <c>unix:/path</c> for a Unix socket,
/// <c>A.B.C.D:PORT</c>, <c>[V6]:PORT</c>, and <c>localhost:PORT</c>. Numeric addresses only
/// otherwise: a name lookup blocks, and a reactor must not.</summary>
internal sealed unsafe class NetEndpoint
{
    private readonly byte[] _sockaddr;

    private NetEndpoint(int family, byte[] sockaddr, string text, string? path)
    {
        Family = family;
        _sockaddr = sockaddr;
        Text = text;
        UnixPath = path;
    }

    public int Family { get; }

    /// <summary>The address as written back in messages and listings (SPDK's traddr style).</summary>
    public string Text { get; }

    /// <summary>The socket file of a Unix endpoint; null otherwise.</summary>
    public string? UnixPath { get; }

    /// <summary>The struct sockaddr_* to pass to bind or connect.</summary>
    public ReadOnlySpan<byte> Sockaddr => _sockaddr;

    /// <summary>0 and the endpoint, or -EINVAL with a message naming what is wrong.</summary>
    public static int TryParse(string? text, out NetEndpoint? endpoint)
    {
        endpoint = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return LastError.Set(Errno.EINVAL, "address is empty (expected /path, unix:/path, HOST:PORT or [V6]:PORT)");
        }
        string s = text.Trim();
        if (s.StartsWith("unix:", StringComparison.Ordinal))
        {
            return TryUnix(s["unix:".Length..], out endpoint);
        }
        if (s.StartsWith('/'))
        {
            return TryUnix(s, out endpoint);
        }
        string host;
        string portText;
        if (s.StartsWith('['))
        {
            int close = s.IndexOf(']');
            if (close < 0 || close + 1 >= s.Length || s[close + 1] != ':')
            {
                return LastError.Set(Errno.EINVAL, $"address '{s}': an IPv6 address is written [ADDR]:PORT");
            }
            host = s[1..close];
            portText = s[(close + 2)..];
        }
        else
        {
            int colon = s.LastIndexOf(':');
            if (colon <= 0 || s.IndexOf(':') != colon)
            {
                return LastError.Set(Errno.EINVAL,
                    $"address '{s}': expected HOST:PORT (IPv6 as [ADDR]:PORT, a Unix socket as /path)");
            }
            host = s[..colon];
            portText = s[(colon + 1)..];
        }
        if (!ushort.TryParse(portText, System.Globalization.NumberStyles.None, null, out ushort port))
        {
            return LastError.Set(Errno.EINVAL, $"address '{s}': port '{portText}' is not a number from 0 to 65535");
        }
        if (host == "localhost")
        {
            host = "127.0.0.1";
        }
        if (!IPAddress.TryParse(host, out IPAddress? ip))
        {
            return LastError.Set(Errno.EINVAL,
                $"address '{s}': host '{host}' is not a numeric IPv4 or IPv6 address (names are not resolved)");
        }
        endpoint = ip.AddressFamily == AddressFamily.InterNetworkV6 ? Inet6(ip, port) : Inet(ip, port);
        return 0;
    }

    private static int TryUnix(string path, out NetEndpoint? endpoint)
    {
        endpoint = null;
        if (path.Length == 0 || path[0] != '/')
        {
            return LastError.Set(Errno.EINVAL, $"Unix socket path '{path}' must be absolute");
        }
        int bytes = Encoding.UTF8.GetByteCount(path);
        if (bytes >= SocketAbi.SockaddrUn.PathCapacity || path.Contains('\0'))
        {
            return LastError.Set(Errno.ENAMETOOLONG,
                $"Unix socket path '{path}' is {bytes} bytes; at most {SocketAbi.SockaddrUn.PathCapacity - 1} fit");
        }
        var raw = new byte[sizeof(SocketAbi.SockaddrUn)];
        fixed (byte* p = raw)
        {
            var sa = (SocketAbi.SockaddrUn*)p;
            sa->Family = SocketAbi.AF_UNIX;
            Encoding.UTF8.GetBytes(path, new Span<byte>(sa->Path, SocketAbi.SockaddrUn.PathCapacity));
        }
        endpoint = new NetEndpoint(SocketAbi.AF_UNIX, raw, path, path);
        return 0;
    }

    private static NetEndpoint Inet(IPAddress ip, ushort port)
    {
        var raw = new byte[sizeof(SocketAbi.SockaddrIn)];
        fixed (byte* p = raw)
        {
            var sa = (SocketAbi.SockaddrIn*)p;
            sa->Family = SocketAbi.AF_INET;
            sa->Port = (ushort)IPAddress.HostToNetworkOrder((short)port);
            ip.TryWriteBytes(new Span<byte>(&sa->Addr, 4), out _);
        }
        return new NetEndpoint(SocketAbi.AF_INET, raw, $"{ip}:{port}", null);
    }

    private static NetEndpoint Inet6(IPAddress ip, ushort port)
    {
        var raw = new byte[sizeof(SocketAbi.SockaddrIn6)];
        fixed (byte* p = raw)
        {
            var sa = (SocketAbi.SockaddrIn6*)p;
            sa->Family = SocketAbi.AF_INET6;
            sa->Port = (ushort)IPAddress.HostToNetworkOrder((short)port);
            ip.TryWriteBytes(new Span<byte>(sa->Addr, 16), out _);
            sa->ScopeId = (uint)ip.ScopeId;
        }
        return new NetEndpoint(SocketAbi.AF_INET6, raw, $"[{ip}]:{port}", null);
    }

    /// <summary>The local address of a bound socket (the port the kernel chose for port 0).</summary>
    public static NetEndpoint? OfSocket(int fd, int family)
    {
        byte* buf = stackalloc byte[128];
        uint len = 128;
        if (SocketAbi.getsockname(fd, buf, &len) != 0)
        {
            return null;
        }
        if (family == SocketAbi.AF_INET)
        {
            var sa = (SocketAbi.SockaddrIn*)buf;
            var ip = new IPAddress(new ReadOnlySpan<byte>(&sa->Addr, 4));
            return Inet(ip, (ushort)IPAddress.NetworkToHostOrder((short)sa->Port));
        }
        if (family == SocketAbi.AF_INET6)
        {
            var sa = (SocketAbi.SockaddrIn6*)buf;
            var ip = new IPAddress(new ReadOnlySpan<byte>(sa->Addr, 16), sa->ScopeId);
            return Inet6(ip, (ushort)IPAddress.NetworkToHostOrder((short)sa->Port));
        }
        return null;
    }

    public override string ToString() => Text;
}
