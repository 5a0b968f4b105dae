using System;
using System.Buffers.Binary;
using System.Collections.Generic;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The discovery log page (70h, NVMe over Fabrics 1.1 "Discovery Log Page"): a
/// 1 KiB header (generation counter, record count, format 0) and a 1 KiB entry per
/// subsystem and listen address a host may use, TCP transport, no security.</summary>
internal static class NvmfDiscoveryLog
{
    public const int HeaderBytes = 1024;
    public const int EntryBytes = 1024;
    private const byte TransportTcp = 3;
    private const byte SubtypeNvme = 2;
    private const byte SubtypeDiscovery = 3; // the current discovery subsystem

    public static byte[] Build(IEnumerable<NvmfSubsystem> subsystems, string hostNqn, ulong generation)
    {
        var entries = new List<(NvmfSubsystem S, NvmfListenAddress L)>();
        foreach (NvmfSubsystem s in subsystems)
        {
            if (!s.HostAllowed(hostNqn))
            {
                continue;
            }
            foreach (NvmfListenAddress l in s.Listeners)
            {
                entries.Add((s, l));
            }
        }
        var page = new byte[HeaderBytes + entries.Count * EntryBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(0), generation);
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(8), (ulong)entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            Span<byte> e = page.AsSpan(HeaderBytes + i * EntryBytes, EntryBytes);
            (NvmfSubsystem s, NvmfListenAddress l) = entries[i];
            e[0] = TransportTcp;
            e[1] = l.Family == "IPv6" ? (byte)2 : (byte)1;
            e[2] = s.IsDiscovery ? SubtypeDiscovery : SubtypeNvme;
            e[3] = 0x02;                                            // TREQ: secure channel not required
            BinaryPrimitives.WriteUInt16LittleEndian(e[4..], (ushort)i); // PORTID
            BinaryPrimitives.WriteUInt16LittleEndian(e[6..], 0xFFFF);    // CNTLID: dynamic
            BinaryPrimitives.WriteUInt16LittleEndian(e[8..], 32);        // ASQSZ
            NvmfIdentify.Ascii(e.Slice(32, 32), l.Service);
            NvmfIdentify.Ascii(e.Slice(256, 256), s.Nqn, pad: 0);  // SUBNQN
            NvmfIdentify.Ascii(e.Slice(512, 256), l.Address);      // TRADDR
            // TSAS for TCP: SECTYPE 0, none.
        }
        return page;
    }
}
