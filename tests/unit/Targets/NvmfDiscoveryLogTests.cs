using System.Buffers.Binary;
using System.Text;
using NativeBdev.Targets.Nvmf;

namespace NativeBdev.Tests.Targets;

/// <summary>The discovery log page's layout (NVMe over Fabrics 1.1, figure "Discovery Log Page
/// Entry"): SUBNQN at byte 256, TRADDR at 512 (the order Linux's nvme discover prints from),
/// TRSVCID at 32, one entry per subsystem and listen address the host may use.</summary>
public class NvmfDiscoveryLogTests
{
    private static string Field(byte[] page, int at, int length) =>
        Encoding.ASCII.GetString(page, at, length).TrimEnd(' ', '\0');

    [Test]
    public async Task Entries_carry_the_subsystem_address_and_port_where_hosts_read_them()
    {
        var open = new NvmfSubsystem("nqn.2026-12.io.nativebdev:open", "S1", "M", 4, 1, 10, false)
        {
            AllowAnyHost = true,
        };
        open.Listeners.Add(new NvmfListenAddress("IPv4", "10.0.0.1", "4420"));
        open.Listeners.Add(new NvmfListenAddress("IPv6", "fd00::1", "4421"));
        var closed = new NvmfSubsystem("nqn.2026-12.io.nativebdev:closed", "S2", "M", 4, 1, 10, false);
        closed.Listeners.Add(new NvmfListenAddress("IPv4", "10.0.0.1", "4420"));
        byte[] page = NvmfDiscoveryLog.Build([open, closed], "nqn.2026-12.io.nativebdev:someone", 7);
        const int e0 = NvmfDiscoveryLog.HeaderBytes, e1 = e0 + NvmfDiscoveryLog.EntryBytes;
        await Assert.That(page.Length).IsEqualTo(NvmfDiscoveryLog.HeaderBytes + 2 * NvmfDiscoveryLog.EntryBytes);
        await Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(page)).IsEqualTo(7UL);
        await Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan(8))).IsEqualTo(2UL);
        await Assert.That(page[e0]).IsEqualTo((byte)3);      // TCP
        await Assert.That(page[e0 + 1]).IsEqualTo((byte)1);  // IPv4
        await Assert.That(page[e1 + 1]).IsEqualTo((byte)2);  // IPv6
        await Assert.That(page[e0 + 2]).IsEqualTo((byte)2);  // an NVM subsystem
        await Assert.That(Field(page, e0 + 32, 32)).IsEqualTo("4420");
        await Assert.That(Field(page, e0 + 256, 256)).IsEqualTo("nqn.2026-12.io.nativebdev:open");
        await Assert.That(Field(page, e0 + 512, 256)).IsEqualTo("10.0.0.1");
        await Assert.That(Field(page, e1 + 32, 32)).IsEqualTo("4421");
        await Assert.That(Field(page, e1 + 512, 256)).IsEqualTo("fd00::1");
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(page.AsSpan(e0 + 6))).IsEqualTo((ushort)0xFFFF);
    }
}
