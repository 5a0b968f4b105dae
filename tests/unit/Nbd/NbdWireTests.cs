using System.Buffers.Binary;
using NativeBdev.Nbd;

namespace NativeBdev.Tests.Nbd;

/// <summary>The protocol's parsers and writers as pure functions over byte spans.</summary>
public class NbdWireTests
{
    internal static byte[] Request(ushort flags, ushort type, ulong cookie, ulong offset, uint length,
        uint magic = NbdProtocol.RequestMagic)
    {
        var b = new byte[28];
        BinaryPrimitives.WriteUInt32BigEndian(b, magic);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(24), length);
        return b;
    }

    [Test]
    public async Task A_request_header_parses_field_by_field_and_needs_all_28_bytes()
    {
        byte[] b = Request(1, NbdProtocol.CmdWrite, 0x1122334455667788, 4096, 512);
        NbdParse whole = NbdWire.ParseRequest(b, out NbdRequest r);
        NbdParse partial = NbdWire.ParseRequest(b.AsSpan(0, 27), out _);
        NbdParse bad = NbdWire.ParseRequest(Request(0, 0, 0, 0, 0, magic: 0x25609514), out _);
        await Assert.That(whole).IsEqualTo(NbdParse.Ok);
        await Assert.That(r).IsEqualTo(new NbdRequest(1, NbdProtocol.CmdWrite, 0x1122334455667788, 4096, 512));
        await Assert.That(partial).IsEqualTo(NbdParse.NeedMore);
        await Assert.That(bad).IsEqualTo(NbdParse.Malformed);
    }

    [Test]
    public async Task Option_headers_need_the_IHAVEOPT_magic()
    {
        var b = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(b, NbdProtocol.OptionMagic);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), NbdProtocol.OptGo);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), 77);
        NbdParse ok = NbdWire.ParseOptionHeader(b, out uint option, out uint length);
        NbdParse more = NbdWire.ParseOptionHeader(b.AsSpan(0, 15), out _, out _);
        b[0] ^= 1;
        NbdParse bad = NbdWire.ParseOptionHeader(b, out _, out _);
        await Assert.That(ok).IsEqualTo(NbdParse.Ok);
        await Assert.That((option, length)).IsEqualTo((NbdProtocol.OptGo, 77u));
        await Assert.That(more).IsEqualTo(NbdParse.NeedMore);
        await Assert.That(bad).IsEqualTo(NbdParse.Malformed);
    }

    [Test]
    public async Task Client_flags_other_than_fixed_newstyle_and_no_zeroes_are_malformed()
    {
        NbdParse known = NbdWire.ParseClientFlags([0, 0, 0, 3], out uint flags);
        NbdParse unknown = NbdWire.ParseClientFlags([0, 0, 0, 4], out _);
        NbdParse more = NbdWire.ParseClientFlags([0, 0, 0], out _);
        await Assert.That(known).IsEqualTo(NbdParse.Ok);
        await Assert.That(flags).IsEqualTo(3u);
        await Assert.That(unknown).IsEqualTo(NbdParse.Malformed);
        await Assert.That(more).IsEqualTo(NbdParse.NeedMore);
    }

    internal static byte[] InfoData(string name, params ushort[] infos)
    {
        var b = new byte[4 + name.Length + 2 + 2 * infos.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)name.Length);
        System.Text.Encoding.ASCII.GetBytes(name).CopyTo(b, 4);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4 + name.Length), (ushort)infos.Length);
        for (int i = 0; i < infos.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6 + name.Length + 2 * i), infos[i]);
        }
        return b;
    }

    [Test]
    public async Task Info_requests_parse_only_when_the_lengths_add_up()
    {
        byte[] ok = InfoData("disk", NbdProtocol.InfoBlockSize, NbdProtocol.InfoName);
        bool parsed = NbdWire.ParseInfoRequest(ok, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> infos);
        string n = System.Text.Encoding.ASCII.GetString(name);
        bool asksBlockSize = NbdWire.Requests(infos, NbdProtocol.InfoBlockSize);
        bool asksDescription = NbdWire.Requests(infos, NbdProtocol.InfoDescription);
        byte[] nameTooLong = (byte[])ok.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(nameTooLong, 1000);
        byte[] countTooBig = (byte[])ok.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(countTooBig.AsSpan(8), 3);
        byte[] trailing = [.. ok, 0];
        await Assert.That(parsed).IsTrue();
        await Assert.That(n).IsEqualTo("disk");
        await Assert.That(asksBlockSize).IsTrue();
        await Assert.That(asksDescription).IsFalse();
        await Assert.That(NbdWire.ParseInfoRequest(nameTooLong, out _, out _)).IsFalse();
        await Assert.That(NbdWire.ParseInfoRequest(countTooBig, out _, out _)).IsFalse();
        await Assert.That(NbdWire.ParseInfoRequest(trailing, out _, out _)).IsFalse();
        await Assert.That(NbdWire.ParseInfoRequest(ok.AsSpan(0, 5), out _, out _)).IsFalse();
    }

    internal static byte[] MetaData(string name, params string[] queries)
    {
        var m = new MemoryStream();
        var w = new BinaryWriter(m);
        void U32(uint v) => w.Write(BinaryPrimitives.ReverseEndianness(v));
        U32((uint)name.Length);
        w.Write(System.Text.Encoding.ASCII.GetBytes(name));
        U32((uint)queries.Length);
        foreach (string q in queries)
        {
            U32((uint)q.Length);
            w.Write(System.Text.Encoding.ASCII.GetBytes(q));
        }
        return m.ToArray();
    }

    [Test]
    public async Task Meta_context_requests_check_every_query_length()
    {
        byte[] ok = MetaData("disk", "base:allocation", "qemu:dirty-bitmap:x");
        bool parsed = NbdWire.ParseMetaContextRequest(ok, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> queries,
            out uint count);
        string n = System.Text.Encoding.ASCII.GetString(name);
        NbdWire.NextQuery(ref queries, out ReadOnlySpan<byte> q1);
        string first = System.Text.Encoding.ASCII.GetString(q1);
        byte[] queryBeyond = (byte[])ok.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(queryBeyond.AsSpan(12), 10_000);
        byte[] countTooBig = (byte[])ok.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(countTooBig.AsSpan(8), 3);
        byte[] trailing = [.. ok, 1, 2];
        await Assert.That(parsed).IsTrue();
        await Assert.That((n, count, first)).IsEqualTo(("disk", 2u, "base:allocation"));
        await Assert.That(NbdWire.ParseMetaContextRequest(queryBeyond, out _, out _, out _)).IsFalse();
        await Assert.That(NbdWire.ParseMetaContextRequest(countTooBig, out _, out _, out _)).IsFalse();
        await Assert.That(NbdWire.ParseMetaContextRequest(trailing, out _, out _, out _)).IsFalse();
    }

    [Test]
    public async Task Replies_have_the_protocols_layouts()
    {
        var r = new NbdRequest(0, NbdProtocol.CmdRead, 42, 8192, 4096);
        var simple = new byte[32];
        var data = new byte[32];
        var error = new byte[32];
        var status = new byte[32];
        int simpleBytes = NbdWire.WriteReply(simple, false, r, 0);
        int dataBytes = NbdWire.WriteReply(data, true, r, 0);
        int errorBytes = NbdWire.WriteReply(error, true, r, NbdProtocol.EIO);
        int statusBytes = NbdWire.WriteBlockStatus(status, 42, 1, 4096, 0);
        await Assert.That((simpleBytes, dataBytes, errorBytes, statusBytes)).IsEqualTo((16, 28, 26, 32));
        await Assert.That(BinaryPrimitives.ReadUInt32BigEndian(simple)).IsEqualTo(NbdProtocol.SimpleReplyMagic);
        await Assert.That(BinaryPrimitives.ReadUInt64BigEndian(simple.AsSpan(8))).IsEqualTo(42UL);
        await Assert.That(BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(6)))
            .IsEqualTo(NbdProtocol.ReplyTypeOffsetData);
        await Assert.That(BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(16))).IsEqualTo(8u + 4096);
        await Assert.That(BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(20))).IsEqualTo(8192UL);
        await Assert.That(BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(4))).IsEqualTo(NbdProtocol.ReplyFlagDone);
        await Assert.That(BinaryPrimitives.ReadUInt16BigEndian(error.AsSpan(6))).IsEqualTo(NbdProtocol.ReplyTypeError);
        await Assert.That(BinaryPrimitives.ReadUInt32BigEndian(error.AsSpan(20))).IsEqualTo(NbdProtocol.EIO);
        await Assert.That(BinaryPrimitives.ReadUInt32BigEndian(status.AsSpan(16))).IsEqualTo(12u);
        await Assert.That(BinaryPrimitives.ReadUInt32BigEndian(status.AsSpan(24))).IsEqualTo(4096u);
    }
}
