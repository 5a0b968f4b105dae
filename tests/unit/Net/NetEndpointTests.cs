using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;

namespace NativeBdev.Tests.Net;

public class NetEndpointTests
{
    [Test]
    [Arguments("/var/tmp/spdk.sock", SocketAbi.AF_UNIX, "/var/tmp/spdk.sock")]
    [Arguments("unix:/tmp/x.sock", SocketAbi.AF_UNIX, "/tmp/x.sock")]
    [Arguments("127.0.0.1:4420", SocketAbi.AF_INET, "127.0.0.1:4420")]
    [Arguments("localhost:8080", SocketAbi.AF_INET, "127.0.0.1:8080")]
    [Arguments("[::1]:4420", SocketAbi.AF_INET6, "[::1]:4420")]
    [Arguments("0.0.0.0:0", SocketAbi.AF_INET, "0.0.0.0:0")]
    public async Task The_forms_users_write_parse(string text, int family, string shown)
    {
        int rc = NetEndpoint.TryParse(text, out NetEndpoint? e);
        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(e!.Family).IsEqualTo(family);
        await Assert.That(e.Text).IsEqualTo(shown);
    }

    [Test]
    [Arguments("", "empty")]
    [Arguments("relative.sock", "HOST:PORT")]
    [Arguments("unix:relative", "absolute")]
    [Arguments("10.0.0.1:70000", "port '70000'")]
    [Arguments("10.0.0.1:-1", "port '-1'")]
    [Arguments("example.com:80", "not a numeric")]
    [Arguments("::1:4420", "HOST:PORT")]
    [Arguments("[::1]4420", "[ADDR]:PORT")]
    public async Task Bad_addresses_are_refused_with_a_reason(string text, string reason)
    {
        int rc = NetEndpoint.TryParse(text, out NetEndpoint? e);
        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(e).IsNull();
        await Assert.That(LastError.Message).Contains(reason);
    }

    [Test]
    public async Task A_Unix_path_longer_than_sun_path_is_refused()
    {
        int rc = NetEndpoint.TryParse("/" + new string('a', 120), out _);
        await Assert.That(rc).IsEqualTo(-Errno.ENAMETOOLONG);
        await Assert.That(LastError.Message).Contains("at most 107");
    }
}
