using System.Buffers.Binary;
using System.Text;
using NativeBdev.Nbd;

namespace NativeBdev.Tests.Nbd;

/// <summary>The negotiation as a state machine over bytes, against a catalog of two exports.</summary>
public class NbdHandshakeTests
{
    private sealed class Catalog : INbdExportCatalog
    {
        public readonly List<NbdExportView> Exports =
        [
            new(Encoding.UTF8.GetBytes("disk"), Encoding.UTF8.GetBytes("a disk"),
                new NbdExportGeometry(1 << 20, 512, 4096, 2 << 20, 0x16d), null),
            new(Encoding.UTF8.GetBytes("ro"), [], new NbdExportGeometry(8192, 4096, 4096, 2 << 20, 0x107), null),
        ];

        public string? Refuse;
        public int Attached;

        public NbdExportView? Find(ReadOnlySpan<byte> name)
        {
            foreach (NbdExportView e in Exports)
            {
                if (name.SequenceEqual(e.Name) || (name.IsEmpty && e == Exports[0]))
                {
                    return e;
                }
            }
            return null;
        }

        public void List(List<NbdExportView> exports) => exports.AddRange(Exports);

        public string? Attach(NbdExportView export)
        {
            Attached++;
            return Refuse;
        }
    }

    private static byte[] Option(uint option, byte[] data)
    {
        var b = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(b, NbdProtocol.OptionMagic);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), (uint)data.Length);
        data.CopyTo(b, 16);
        return b;
    }

    /// <summary>Feeds <paramref name="input"/> in pieces of <paramref name="piece"/> bytes, as
    /// a socket might deliver it; the steps taken and the output.</summary>
    private static (List<NbdHandshakeStep> Steps, byte[] Output) Run(NbdHandshake h, byte[] input, int piece)
    {
        var steps = new List<NbdHandshakeStep>();
        var buffered = new List<byte>();
        for (int at = 0; at < input.Length; at += piece)
        {
            buffered.AddRange(input.AsSpan(at, Math.Min(piece, input.Length - at)).ToArray());
            while (true)
            {
                NbdHandshakeStep s = h.Step(buffered.ToArray(), out int consumed);
                buffered.RemoveRange(0, consumed);
                if (s == NbdHandshakeStep.NeedMore)
                {
                    break;
                }
                steps.Add(s);
                if (s is NbdHandshakeStep.Close or NbdHandshakeStep.Transmission)
                {
                    return (steps, h.Output.WrittenSpan.ToArray());
                }
            }
        }
        return (steps, h.Output.WrittenSpan.ToArray());
    }

    /// <summary>The option replies in <paramref name="output"/> after the greeting: (option, type, data).</summary>
    private static List<(uint Option, uint Type, byte[] Data)> Replies(byte[] output, int from = NbdWire.GreetingBytes)
    {
        var list = new List<(uint, uint, byte[])>();
        for (int at = from; at + 20 <= output.Length;)
        {
            if (BinaryPrimitives.ReadUInt64BigEndian(output.AsSpan(at)) != NbdProtocol.OptionReplyMagic)
            {
                break;
            }
            int n = (int)BinaryPrimitives.ReadUInt32BigEndian(output.AsSpan(at + 16));
            list.Add((BinaryPrimitives.ReadUInt32BigEndian(output.AsSpan(at + 8)),
                BinaryPrimitives.ReadUInt32BigEndian(output.AsSpan(at + 12)), output.AsSpan(at + 20, n).ToArray()));
            at += 20 + n;
        }
        return list;
    }

    private static byte[] Flags(uint f) => [(byte)(f >> 24), (byte)(f >> 16), (byte)(f >> 8), (byte)f];

    [Test]
    public async Task Go_answers_export_and_block_size_info_then_ack_the_same_in_any_piece_size()
    {
        byte[] input = [.. Flags(3), .. Option(NbdProtocol.OptStructuredReply, []),
            .. Option(NbdProtocol.OptSetMetaContext, NbdWireTests.MetaData("disk", "base:allocation")),
            .. Option(NbdProtocol.OptGo,
                NbdWireTests.InfoData("disk", NbdProtocol.InfoBlockSize, NbdProtocol.InfoDescription))];
        var outputs = new List<byte[]>();
        NbdHandshake? last = null;
        foreach (int piece in new[] { 1, 7, input.Length })
        {
            var h = new NbdHandshake(new Catalog());
            h.WriteGreeting();
            (List<NbdHandshakeStep> steps, byte[] output) = Run(h, input, piece);
            await Assert.That(steps[^1]).IsEqualTo(NbdHandshakeStep.Transmission);
            outputs.Add(output);
            last = h;
        }
        List<(uint Option, uint Type, byte[] Data)> r = Replies(outputs[0]);
        await Assert.That(outputs[1]).IsEquivalentTo(outputs[0]);
        await Assert.That(outputs[2]).IsEquivalentTo(outputs[0]);
        await Assert.That(Encoding.ASCII.GetString(outputs[0], 0, 16)).IsEqualTo("NBDMAGICIHAVEOPT");
        await Assert.That(r.Select(x => x.Type).ToArray()).IsEquivalentTo(new[]
        {
            NbdProtocol.RepAck, NbdProtocol.RepMetaContext, NbdProtocol.RepAck,
            NbdProtocol.RepInfo, NbdProtocol.RepInfo, NbdProtocol.RepInfo, NbdProtocol.RepAck,
        });
        await Assert.That(BinaryPrimitives.ReadUInt64BigEndian(r[3].Data.AsSpan(2))).IsEqualTo(1UL << 20);
        await Assert.That(BinaryPrimitives.ReadUInt32BigEndian(r[4].Data.AsSpan(2))).IsEqualTo(512u);
        await Assert.That(Encoding.ASCII.GetString(r[5].Data.AsSpan(2))).IsEqualTo("a disk");
        await Assert.That(last!.Structured).IsTrue();
        await Assert.That(last.MetaContext).IsTrue();
        await Assert.That(Encoding.ASCII.GetString(last.Chosen!.Name)).IsEqualTo("disk");
    }

    [Test]
    public async Task A_meta_context_set_for_another_export_does_not_carry_over()
    {
        var h = new NbdHandshake(new Catalog());
        byte[] input = [.. Flags(1), .. Option(NbdProtocol.OptStructuredReply, []),
            .. Option(NbdProtocol.OptSetMetaContext, NbdWireTests.MetaData("ro", "base:allocation")),
            .. Option(NbdProtocol.OptGo, NbdWireTests.InfoData("disk"))];
        (List<NbdHandshakeStep> steps, _) = Run(h, input, input.Length);
        await Assert.That(steps[^1]).IsEqualTo(NbdHandshakeStep.Transmission);
        await Assert.That(h.MetaContext).IsFalse();
    }

    [Test]
    public async Task Errors_are_replies_and_the_negotiation_goes_on()
    {
        var catalog = new Catalog();
        var h = new NbdHandshake(catalog);
        byte[] badGo = NbdWireTests.InfoData("disk");
        BinaryPrimitives.WriteUInt32BigEndian(badGo, 99);
        byte[] input = [.. Flags(3), .. Option(77, [1, 2, 3]), .. Option(NbdProtocol.OptGo, badGo),
            .. Option(NbdProtocol.OptGo, NbdWireTests.InfoData("nosuch")),
            .. Option(NbdProtocol.OptSetMetaContext, NbdWireTests.MetaData("disk", "base:allocation")),
            .. Option(NbdProtocol.OptList, [0]), .. Option(NbdProtocol.OptStructuredReply, [0]),
            .. Option(NbdProtocol.OptListMetaContext, NbdWireTests.MetaData("disk")),
            .. Option(NbdProtocol.OptList, []), .. Option(NbdProtocol.OptAbort, [])];
        (List<NbdHandshakeStep> steps, byte[] output) = Run(h, input, input.Length);
        List<(uint Option, uint Type, byte[] Data)> r = Replies(output, 0);
        await Assert.That(steps[^1]).IsEqualTo(NbdHandshakeStep.Close);
        await Assert.That(r.Select(x => x.Type).ToArray()).IsEquivalentTo(new[]
        {
            NbdProtocol.RepErrUnsup, NbdProtocol.RepErrInvalid, NbdProtocol.RepErrUnknown, NbdProtocol.RepErrInvalid,
            NbdProtocol.RepErrInvalid, NbdProtocol.RepErrInvalid, NbdProtocol.RepMetaContext, NbdProtocol.RepAck,
            NbdProtocol.RepServer, NbdProtocol.RepServer, NbdProtocol.RepAck, NbdProtocol.RepAck,
        });
        await Assert.That(Encoding.UTF8.GetString(r[2].Data)).Contains("nosuch");
        await Assert.That(catalog.Attached).IsEqualTo(0);
    }

    [Test]
    public async Task Export_name_answers_size_and_flags_with_or_without_the_124_zeroes()
    {
        foreach ((uint flags, int length) in new[] { (1u, 134), (3u, 10) })
        {
            var h = new NbdHandshake(new Catalog());
            (List<NbdHandshakeStep> steps, byte[] output) =
                Run(h, [.. Flags(flags), .. Option(NbdProtocol.OptExportName, Encoding.ASCII.GetBytes("ro"))], 3);
            await Assert.That(steps[^1]).IsEqualTo(NbdHandshakeStep.Transmission);
            await Assert.That(output.Length).IsEqualTo(length);
            await Assert.That(BinaryPrimitives.ReadUInt64BigEndian(output)).IsEqualTo(8192UL);
            await Assert.That(BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(8))).IsEqualTo((ushort)0x107);
        }
    }

    [Test]
    public async Task Malformed_messages_close_the_connection()
    {
        byte[] badMagic = Option(NbdProtocol.OptGo, []);
        badMagic[0] = 0;
        byte[] tooBig = Option(NbdProtocol.OptGo, []);
        BinaryPrimitives.WriteUInt32BigEndian(tooBig.AsSpan(12), NbdProtocol.MaxOptionBytes + 1);
        byte[][] inputs =
        [
            Flags(0x80),
            [.. Flags(3), .. badMagic],
            [.. Flags(3), .. tooBig],
            [.. Flags(3), .. Option(NbdProtocol.OptExportName, Encoding.ASCII.GetBytes("nosuch"))],
            [.. Flags(0), .. Option(NbdProtocol.OptList, [])], // not fixed newstyle: only EXPORT_NAME
        ];
        foreach (byte[] input in inputs)
        {
            var h = new NbdHandshake(new Catalog());
            (List<NbdHandshakeStep> steps, _) = Run(h, input, input.Length);
            await Assert.That(steps[^1]).IsEqualTo(NbdHandshakeStep.Close);
            await Assert.That(h.CloseReason).IsNotEmpty();
        }
    }

    [Test]
    public async Task A_go_the_catalog_cannot_attach_is_an_error_reply_not_transmission()
    {
        var catalog = new Catalog { Refuse = "no memory" };
        var h = new NbdHandshake(catalog);
        (List<NbdHandshakeStep> steps, byte[] output) =
            Run(h, [.. Flags(3), .. Option(NbdProtocol.OptGo, NbdWireTests.InfoData("disk"))], 64);
        List<(uint Option, uint Type, byte[] Data)> r = Replies(output, 0);
        await Assert.That(steps.Contains(NbdHandshakeStep.Transmission)).IsFalse();
        await Assert.That(r[0].Type).IsEqualTo(NbdProtocol.RepErrUnknown);
        await Assert.That(Encoding.UTF8.GetString(r[0].Data)).Contains("no memory");
        await Assert.That(catalog.Attached).IsEqualTo(1);
    }
}
