using System.Buffers.Binary;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;

namespace NativeBdev.Tests.Nvme;

/// <summary>The host's receive state machine: a stream of every PDU a host receives, cut at
/// every split, gives the same events; digests are verified; and a seeded fuzz run (random
/// bytes, and valid streams with bytes flipped, cut short or spliced) never throws, never
/// hands out data beyond what a C2HData header announced, and fails with EPROTO or
/// ECONNRESET only.</summary>
public class NvmeTcpReceiverTests
{
    /// <summary>Records events; checks data stays within the announced PDU.</summary>
    private sealed class Recorder : NvmeTcpReceiveSink
    {
        public readonly List<string> Events = new();
        public readonly List<byte> Data = new();
        private long _left = -1;
        public bool Overrun;

        public override int OnICResp(ReadOnlySpan<byte> pdu)
        {
            Events.Add($"icresp {BinaryPrimitives.ReadUInt32LittleEndian(pdu[12..])}");
            return 0;
        }

        public override int OnCapsuleResp(in NvmeCompletion cpl)
        {
            Events.Add($"resp {cpl.Cid} {cpl.Dw0:x}");
            return 0;
        }

        public override int OnR2T(in NvmeTcpDataFields r2t)
        {
            Events.Add($"r2t {r2t.Cid} {r2t.Offset} {r2t.Length}");
            return 0;
        }

        public override int OnC2HDataStart(in NvmeTcpDataFields data, byte flags)
        {
            Events.Add($"c2h {data.Cid} {data.Offset} {data.Length} {flags & 0x0C:x}");
            _left = data.Length;
            return 0;
        }

        public override int OnC2HData(ReadOnlySpan<byte> data)
        {
            _left -= data.Length;
            Overrun |= _left < 0;
            Data.AddRange(data.ToArray());
            return 0;
        }

        public override int OnC2HDataEnd(bool digestOk)
        {
            Overrun |= _left != 0;
            Events.Add($"end {digestOk}");
            return 0;
        }

        public override int OnTermReq(ushort fes, uint fei) => LastError.Set(Errno.ECONNRESET, $"termreq {fes}");
    }

    /// <summary>ICResp, then (digests as given) a response, an R2T, a C2HData of 3000 bytes
    /// with its data digest, a C2HData with SUCCESS.</summary>
    private static byte[] Stream(bool hd, bool dd, out byte[] payload)
    {
        var s = new List<byte>();
        var b = new byte[256];
        NvmeTcpPdu.WriteICResp(b, 0, hd, dd, 65536);
        s.AddRange(b.AsSpan(0, 128).ToArray());
        int n = NvmeTcpPdu.WriteCapsuleResp(b, new NvmeCompletion { Cid = 5, Dw0 = 0xABC }, hd);
        s.AddRange(b.AsSpan(0, n).ToArray());
        n = NvmeTcpPdu.WriteR2T(b, new NvmeTcpDataFields(6, 1, 0, 8192), hd);
        s.AddRange(b.AsSpan(0, n).ToArray());
        payload = new byte[3000];
        new Random(1).NextBytes(payload);
        n = NvmeTcpPdu.WriteC2HData(b, new NvmeTcpDataFields(7, 0, 512, 3000), true, false, hd, dd);
        s.AddRange(b.AsSpan(0, n).ToArray());
        s.AddRange(payload);
        if (dd)
        {
            s.AddRange(BitConverter.GetBytes(Crc32c.Compute(payload)));
        }
        n = NvmeTcpPdu.WriteC2HData(b, new NvmeTcpDataFields(8, 0, 0, 0), true, true, hd, dd);
        s.AddRange(b.AsSpan(0, n).ToArray());
        if (dd)
        {
            s.AddRange(BitConverter.GetBytes(Crc32c.Compute([])));
        }
        return s.ToArray();
    }

    private static (int Rc, Recorder Rec) Run(byte[] stream, bool hd, bool dd, int[] cuts)
    {
        var rec = new Recorder();
        var rx = new NvmeTcpReceiver(rec);
        int at = 0, rc = 0;
        bool negotiated = false;
        foreach (int cut in cuts.Append(stream.Length))
        {
            // The digests are switched on after the ICResp, as the queue does.
            int end = Math.Min(cut, stream.Length);
            while (at < end && rc == 0)
            {
                int upto = !negotiated ? Math.Min(end, 128) : end;
                rc = rx.Feed(stream.AsSpan(at, upto - at));
                at = upto;
                if (!negotiated && at >= 128)
                {
                    negotiated = true;
                    rx.HeaderDigest = hd;
                    rx.DataDigest = dd;
                }
            }
        }
        return (rc, rec);
    }

    [Test]
    [Arguments(false, false)]
    [Arguments(true, false)]
    [Arguments(false, true)]
    [Arguments(true, true)]
    public async Task Every_split_gives_the_same_events(bool hd, bool dd)
    {
        byte[] s = Stream(hd, dd, out byte[] payload);
        string[] want =
        [
            "icresp 65536", "resp 5 abc", "r2t 6 0 8192", "c2h 7 512 3000 4", "end True", "c2h 8 0 0 c", "end True",
        ];
        for (int cut = 0; cut <= s.Length; cut += 7)
        {
            var (rc, rec) = Run(s, hd, dd, [cut]);
            await Assert.That(rc).IsEqualTo(0);
            await Assert.That(rec.Events.SequenceEqual(want)).IsTrue();
            await Assert.That(rec.Data.SequenceEqual(payload)).IsTrue();
        }
        var (rc1, rec1) = Run(s, hd, dd, Enumerable.Range(1, s.Length).ToArray()); // a byte at a time
        await Assert.That(rc1).IsEqualTo(0);
        await Assert.That(rec1.Events.SequenceEqual(want)).IsTrue();
    }

    [Test]
    public async Task A_bad_header_digest_fails_a_bad_data_digest_is_reported()
    {
        byte[] s = Stream(true, true, out _);
        byte[] h = (byte[])s.Clone();
        h[128 + 8 + 12] ^= 1; // the response's cid: its header digest no longer matches
        var (rc, _) = Run(h, true, true, []);
        await Assert.That(rc).IsEqualTo(-Errno.EPROTO);
        byte[] d = (byte[])s.Clone();
        int c2hData = 128 + 28 + 28 + 28;
        d[c2hData + 100] ^= 0x80; // payload byte: the data digest no longer matches
        var (rc2, rec) = Run(d, true, true, []);
        await Assert.That(rc2).IsEqualTo(0);
        await Assert.That(rec.Events).Contains("end False");
    }

    [Test]
    public async Task A_termreq_ends_the_stream()
    {
        var b = new byte[64];
        NvmeTcpPdu.WriteH2CTermReq(b, 1, 2, new byte[16]);
        b[0] = 0x03;
        var rec = new Recorder();
        var rx = new NvmeTcpReceiver(rec);
        await Assert.That(rx.Feed(b.AsSpan(0, 40))).IsEqualTo(-Errno.ECONNRESET);
        await Assert.That(rx.IsFailed).IsTrue();
        await Assert.That(rx.Feed(b.AsSpan(0, 1))).IsEqualTo(-Errno.EPROTO);
    }

    /// <summary>Seeded fuzz run of the receive parser (a C fuzzer over the .so has no natural
    /// entry point for an internal parser; this feeds it from TUnit): 20,000 inputs.</summary>
    [Test]
    public async Task Fuzzed_streams_never_throw_or_overrun()
    {
        var rnd = new Random(20261202);
        byte[][] seeds = [Stream(false, false, out _), Stream(true, true, out _), Stream(true, false, out _)];
        int failures = 0, passes = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] input;
            int kind = rnd.Next(4);
            if (kind == 0)
            {
                input = new byte[rnd.Next(1, 600)];
                rnd.NextBytes(input);
            }
            else
            {
                input = (byte[])seeds[rnd.Next(seeds.Length)].Clone();
                int flips = rnd.Next(1, 8);
                for (int f = 0; f < flips; f++)
                {
                    input[rnd.Next(input.Length)] = (byte)rnd.Next(256);
                }
                if (kind == 2)
                {
                    input = input.AsSpan(0, rnd.Next(input.Length)).ToArray();
                }
                else if (kind == 3)
                {
                    byte[] other = seeds[rnd.Next(seeds.Length)];
                    int from = rnd.Next(other.Length);
                    input = input.Concat(other.Skip(from)).ToArray();
                }
            }
            bool hd = rnd.Next(2) == 0, dd = rnd.Next(2) == 0;
            int[] cuts = Enumerable.Range(0, rnd.Next(4)).Select(_ => rnd.Next(input.Length + 1)).Order().ToArray();
            var (rc, rec) = Run(input, hd, dd, cuts);
            if (rec.Overrun)
            {
                Assert.Fail($"input {i}: data handed out beyond the announced length");
            }
            if (rc != 0 && rc != -Errno.EPROTO && rc != -Errno.ECONNRESET)
            {
                Assert.Fail($"input {i}: unexpected error {rc}");
            }
            if (rc != 0)
            {
                failures++;
            }
            else
            {
                passes++;
            }
        }
        await Assert.That(failures).IsGreaterThan(1000);
        await Assert.That(passes).IsGreaterThan(100);
    }
}
