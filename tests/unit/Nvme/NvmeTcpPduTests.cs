using System.Buffers.Binary;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;

namespace NativeBdev.Tests.Nvme;

/// <summary>Every NVMe/TCP PDU against bytes built by hand from the NVMe/TCP transport
/// specification's figures (offsets written out here, not taken from the codec), the
/// digests against a bitwise CRC-32C, and the receive-side checks each with the field they
/// name.</summary>
public class NvmeTcpPduTests
{
    private static uint BitwiseCrc32c(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
            }
        }
        return ~crc;
    }

    [Test]
    public async Task ICReq_is_128_bytes_with_pfv_hpda_digests_and_maxr2t()
    {
        var b = new byte[128];
        await Assert.That(NvmeTcpPdu.WriteICReq(b, 0, true, true, 3)).IsEqualTo(128);
        byte[] want = new byte[128];
        want[0] = 0x00;  // type ICReq
        want[2] = 128;   // hlen
        want[3] = 0;     // pdo
        want[4] = 128;   // plen (le32)
        want[10] = 0;    // hpda
        want[11] = 0x03; // HDGST_ENABLE | DDGST_ENABLE
        want[12] = 3;    // maxr2t (le32)
        await Assert.That(b.SequenceEqual(want)).IsTrue();
        NvmeTcpPdu.WriteICReq(b, 0, false, true, 0);
        await Assert.That(b[11]).IsEqualTo((byte)0x02);
    }

    [Test]
    public async Task ICResp_is_read_and_checked()
    {
        byte[] b = new byte[128];
        b[0] = 0x01;
        b[2] = 128;
        b[4] = 128;
        b[11] = 0x01;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), 131072);
        NvmeTcpHeader h = NvmeTcpPdu.ReadCommonHeader(b);
        await Assert.That(NvmeTcpPdu.CheckReceived(h, false, false, out int hb, out int db)).IsEqualTo(0);
        await Assert.That(hb).IsEqualTo(128);
        await Assert.That(db).IsEqualTo(0);
        await Assert.That(NvmeTcpPdu.ReadICResp(b, true, false, out NvmeTcpICResp r)).IsEqualTo(0);
        await Assert.That(r.HeaderDigest).IsTrue();
        await Assert.That(r.DataDigest).IsFalse();
        await Assert.That(r.MaxH2CData).IsEqualTo(131072u);
        // What the host refuses, each with its field named.
        await Assert.That(ICRespError(b, x => x[11] = 0x01, askHeader: false)).Contains("did not ask");
        await Assert.That(ICRespError(b, x => x[10] = 1)).Contains("CPDA");
        await Assert.That(ICRespError(b, x => BinaryPrimitives.WriteUInt32LittleEndian(x.AsSpan(12), 2048)))
            .Contains("MAXH2CDATA");
        await Assert.That(ICRespError(b, x => BinaryPrimitives.WriteUInt32LittleEndian(x.AsSpan(12), 4098)))
            .Contains("MAXH2CDATA");
        await Assert.That(ICRespError(b, x => x[8] = 1)).Contains("format version");
        b[4] = 129;
        await Assert.That(NvmeTcpPdu.CheckReceived(NvmeTcpPdu.ReadCommonHeader(b), false, false, out _, out _))
            .IsEqualTo(-Errno.EPROTO);
    }

    private static string ICRespError(byte[] good, Action<byte[]> spoil, bool askHeader = true)
    {
        byte[] b = (byte[])good.Clone();
        spoil(b);
        int rc = NvmeTcpPdu.ReadICResp(b, askHeader, false, out _);
        return rc < 0 ? LastError.Message : "accepted";
    }

    [Test]
    public async Task Capsule_command_header_with_in_capsule_data_and_digests()
    {
        var cmd = new NvmeCommand { Opcode = 0x01, Cid = 0x1234, Nsid = 1, Cdw10 = 0x10, Cdw12 = 7 };
        NvmeTcpPdu.SetSgl(ref cmd, 4096, inCapsule: true);
        var b = new byte[80];
        await Assert.That(NvmeTcpPdu.WriteCapsuleCmd(b, cmd, 4096, true, true)).IsEqualTo(76);
        await Assert.That(b[0]).IsEqualTo((byte)0x04);
        await Assert.That(b[1]).IsEqualTo((byte)0x03); // HDGSTF | DDGSTF
        await Assert.That(b[2]).IsEqualTo((byte)72);
        await Assert.That(b[3]).IsEqualTo((byte)76);   // pdo: after the header and its digest
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4))).IsEqualTo(72u + 4 + 4096 + 4);
        // The SQE at byte 8: opcode, flags (PSDT 01b: SGL), cid, nsid; SGL1 at SQE byte 24.
        await Assert.That(b[8]).IsEqualTo((byte)0x01);
        await Assert.That(b[9]).IsEqualTo((byte)0x40);
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(10))).IsEqualTo((ushort)0x1234);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(12))).IsEqualTo(1u);
        await Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8 + 24))).IsEqualTo(0UL); // offset 0
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8 + 32))).IsEqualTo(4096u);
        await Assert.That(b[8 + 39]).IsEqualTo((byte)0x01); // data block, offset subtype
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8 + 40))).IsEqualTo(0x10u);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(72)))
            .IsEqualTo(BitwiseCrc32c(b.AsSpan(0, 72)));
        // Without data: PDO 0, no data digest flag, a transport data block of the length.
        NvmeTcpPdu.SetSgl(ref cmd, 131072, inCapsule: false);
        await Assert.That(NvmeTcpPdu.WriteCapsuleCmd(b, cmd, 0, false, true)).IsEqualTo(72);
        await Assert.That(b[1]).IsEqualTo((byte)0);
        await Assert.That(b[3]).IsEqualTo((byte)0);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4))).IsEqualTo(72u);
        await Assert.That(b[8 + 39]).IsEqualTo((byte)0x5A);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8 + 32))).IsEqualTo(131072u);
        await Assert.That(NvmeTcpPdu.ReadCapsuleCmd(b).Cid).IsEqualTo((ushort)0x1234);
    }

    [Test]
    public async Task Capsule_response_carries_the_cqe()
    {
        byte[] b = new byte[28];
        b[0] = 0x05;
        b[1] = 0x01;
        b[2] = 24;
        b[4] = 28;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 0xCAFE);      // dw0
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8 + 12), 0x0042); // cid
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(8 + 14), 0x0002 << 1 | 0 << 9); // SC 2
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(24), BitwiseCrc32c(b.AsSpan(0, 24)));
        NvmeTcpHeader h = NvmeTcpPdu.ReadCommonHeader(b);
        await Assert.That(NvmeTcpPdu.CheckReceived(h, true, false, out int hb, out _)).IsEqualTo(0);
        await Assert.That(hb).IsEqualTo(28);
        await Assert.That(NvmeTcpPdu.HeaderDigestMatches(b, 24)).IsTrue();
        NvmeCompletion cpl = NvmeTcpPdu.ReadCapsuleResp(b);
        await Assert.That(cpl.Dw0).IsEqualTo(0xCAFEu);
        await Assert.That(cpl.Cid).IsEqualTo((ushort)0x42);
        await Assert.That(cpl.Sc).IsEqualTo(2);
        // Header digests on but the flag clear (and the reverse) are errors.
        await Assert.That(NvmeTcpPdu.CheckReceived(h, false, false, out _, out _)).IsEqualTo(-Errno.EPROTO);
        await Assert.That(LastError.Message).Contains("header digest flag");
        b[5] = 1; // plen 284
        await Assert.That(NvmeTcpPdu.CheckReceived(NvmeTcpPdu.ReadCommonHeader(b), true, false, out _, out _))
            .IsEqualTo(-Errno.EPROTO);
        var w = new byte[28];
        NvmeTcpPdu.WriteCapsuleResp(w, cpl, true);
        b[5] = 0;
        await Assert.That(w.SequenceEqual(b)).IsTrue();
    }

    [Test]
    public async Task H2CData_C2HData_and_R2T_layouts()
    {
        var b = new byte[32];
        var f = new NvmeTcpDataFields(7, 0x99, 8192, 4096);
        await Assert.That(NvmeTcpPdu.WriteH2CData(b, f, true, true, true)).IsEqualTo(28);
        byte[] want = new byte[28];
        want[0] = 0x06;
        want[1] = 0x01 | 0x02 | 0x04; // HDGST, DDGST, LAST_PDU
        want[2] = 24;
        want[3] = 28;
        BinaryPrimitives.WriteUInt32LittleEndian(want.AsSpan(4), 28 + 4096 + 4);
        BinaryPrimitives.WriteUInt16LittleEndian(want.AsSpan(8), 7);       // cccid
        BinaryPrimitives.WriteUInt16LittleEndian(want.AsSpan(10), 0x99);   // ttag
        BinaryPrimitives.WriteUInt32LittleEndian(want.AsSpan(12), 8192);   // datao
        BinaryPrimitives.WriteUInt32LittleEndian(want.AsSpan(16), 4096);   // datal
        BinaryPrimitives.WriteUInt32LittleEndian(want.AsSpan(24), BitwiseCrc32c(want.AsSpan(0, 24)));
        await Assert.That(b.AsSpan(0, 28).SequenceEqual(want)).IsTrue();

        NvmeTcpPdu.WriteC2HData(b, f, true, true, false, false);
        await Assert.That(b[0]).IsEqualTo((byte)0x07);
        await Assert.That(b[1]).IsEqualTo((byte)(0x04 | 0x08)); // LAST_PDU | SUCCESS
        NvmeTcpHeader h = NvmeTcpPdu.ReadCommonHeader(b);
        await Assert.That(NvmeTcpPdu.CheckReceived(h, false, false, out int hb, out int db)).IsEqualTo(0);
        await Assert.That(hb).IsEqualTo(24);
        await Assert.That(db).IsEqualTo(4096);
        await Assert.That(NvmeTcpPdu.ReadDataFields(b)).IsEqualTo(f);
        b[1] = 0x08; // SUCCESS without LAST_PDU
        await Assert.That(NvmeTcpPdu.CheckReceived(NvmeTcpPdu.ReadCommonHeader(b), false, false, out _, out _))
            .IsEqualTo(-Errno.EPROTO);
        await Assert.That(LastError.Message).Contains("SUCCESS");
        b[1] = 0x04;
        b[3] = 20; // PDO inside the header
        await Assert.That(NvmeTcpPdu.CheckReceived(NvmeTcpPdu.ReadCommonHeader(b), false, false, out _, out _))
            .IsEqualTo(-Errno.EPROTO);

        NvmeTcpPdu.WriteR2T(b, f, false);
        await Assert.That(b[0]).IsEqualTo((byte)0x09);
        await Assert.That(b[3]).IsEqualTo((byte)0);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4))).IsEqualTo(24u);
        await Assert.That(NvmeTcpPdu.ReadDataFields(b)).IsEqualTo(f);
        await Assert.That(NvmeTcpPdu.CheckReceived(NvmeTcpPdu.ReadCommonHeader(b), false, false, out _, out _))
            .IsEqualTo(0);
    }

    [Test]
    public async Task TermReq_and_unexpected_types()
    {
        var b = new byte[64];
        byte[] offending = Enumerable.Range(0, 40).Select(i => (byte)i).ToArray();
        await Assert.That(NvmeTcpPdu.WriteH2CTermReq(b, NvmeTcpPdu.FesHeaderDigestError, 0x11223344, offending))
            .IsEqualTo(64);
        await Assert.That(b[0]).IsEqualTo((byte)0x02);
        await Assert.That(b[2]).IsEqualTo((byte)24);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4))).IsEqualTo(64u);
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(8))).IsEqualTo((ushort)3);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(10))).IsEqualTo(0x11223344u);
        await Assert.That(b.AsSpan(24, 40).SequenceEqual(offending)).IsTrue();
        b[0] = 0x03; // as a C2HTermReq the host reads it
        NvmeTcpHeader h = NvmeTcpPdu.ReadCommonHeader(b);
        await Assert.That(NvmeTcpPdu.CheckReceived(h, true, true, out int hb, out int db)).IsEqualTo(0);
        await Assert.That(hb + db).IsEqualTo(64);
        await Assert.That(NvmeTcpPdu.ReadTermReq(b)).IsEqualTo(((ushort)3, 0x11223344u));
        foreach (byte type in new byte[] { 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0xFF })
        {
            b[0] = type;
            await Assert.That(NvmeTcpPdu.CheckReceived(NvmeTcpPdu.ReadCommonHeader(b), false, false, out _, out _))
                .IsEqualTo(-Errno.EPROTO);
        }
    }

    [Test]
    public async Task Digest_known_answers()
    {
        // CRC-32C check value, and a header digest over a fixed capsule response.
        await Assert.That(Crc32c.Compute("123456789"u8)).IsEqualTo(0xE3069283u);
        byte[] hdr = new byte[24];
        for (int i = 0; i < 24; i++)
        {
            hdr[i] = (byte)(i * 7 + 1);
        }
        await Assert.That(NvmeTcpPdu.HeaderDigest(hdr, 24)).IsEqualTo(BitwiseCrc32c(hdr));
        byte[] page = new byte[4096];
        new Random(3).NextBytes(page);
        await Assert.That(Crc32c.Compute(page)).IsEqualTo(BitwiseCrc32c(page));
    }

    [Test]
    public async Task Fabrics_connect_and_property_commands()
    {
        NvmeCommand c = NvmeFabrics.Connect(3, 128, 15000);
        var b = new byte[64];
        System.Runtime.InteropServices.MemoryMarshal.Write(b, in c);
        await Assert.That(b[0]).IsEqualTo((byte)0x7F);
        await Assert.That(b[4]).IsEqualTo((byte)0x01); // fctype Connect
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(40))).IsEqualTo((ushort)0);  // recfmt
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(42))).IsEqualTo((ushort)3);  // qid
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(44))).IsEqualTo((ushort)127); // sqsize
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(48))).IsEqualTo(15000u);    // kato
        c = NvmeFabrics.PropertySet(0x14, 0x460001, false);
        System.Runtime.InteropServices.MemoryMarshal.Write(b, in c);
        await Assert.That(b[4]).IsEqualTo((byte)0x00);
        await Assert.That(b[40]).IsEqualTo((byte)0);   // attrib: 4 bytes
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(44))).IsEqualTo(0x14u);
        await Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(48))).IsEqualTo(0x460001UL);
        c = NvmeFabrics.PropertyGet(0, true);
        System.Runtime.InteropServices.MemoryMarshal.Write(b, in c);
        await Assert.That(b[4]).IsEqualTo((byte)0x04);
        await Assert.That(b[40]).IsEqualTo((byte)1);   // attrib: 8 bytes
        var data = new byte[1024];
        var hostId = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
        NvmeFabrics.WriteConnectData(data, hostId, 0xFFFF, "nqn.2014-08.org.example:sub",
            "nqn.2014-08.org.example:host");
        await Assert.That(data[0]).IsEqualTo((byte)0x00);
        await Assert.That(data[15]).IsEqualTo((byte)0xFF);
        await Assert.That(data[3]).IsEqualTo((byte)0x33); // the UUID's bytes in text order
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(16))).IsEqualTo((ushort)0xFFFF);
        await Assert.That(System.Text.Encoding.ASCII.GetString(data, 256, 27)).IsEqualTo("nqn.2014-08.org.example:sub");
        await Assert.That(data[256 + 27]).IsEqualTo((byte)0);
        await Assert.That(System.Text.Encoding.ASCII.GetString(data, 512, 28))
            .IsEqualTo("nqn.2014-08.org.example:host");
        await Assert.That(NvmeFabrics.IsValidNqn("nqn.2014-08.org.nvmexpress.discovery", out _)).IsTrue();
        await Assert.That(NvmeFabrics.IsValidNqn("iqn.2014-08.x", out _)).IsFalse();
        await Assert.That(NvmeFabrics.IsValidNqn("nqn.2014-08.a b", out _)).IsFalse();
        await Assert.That(NvmeFabrics.IsValidNqn("nqn.2014-08." + new string('a', 220), out _)).IsFalse();
    }
}
