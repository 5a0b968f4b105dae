using System.Text;
using NativeBdev.Rpc;

namespace NativeBdev.Tests.Rpc;

/// <summary>Framing as SPDK's rpc.py speaks it: pretty-printed values with no delimiter,
/// several per connection, in chunks of any size.</summary>
public class RpcDecoderTests
{
    private const string A = "{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"a\",\n  \"id\": 1\n}";
    private const string B = "{\"jsonrpc\":\"2.0\",\"method\":\"b\",\"params\":{\"s\":\"}{][\\\"\\\\\"},\"id\":\"x\"}";
    private const string Batch =
        "[{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":1},\n {\"jsonrpc\":\"2.0\",\"method\":\"b\"}]";

    [Test]
    public async Task Several_values_in_one_buffer_come_out_in_order()
    {
        var d = new RpcDecoder();
        var log = new FrameLog();
        RpcDecodeStatus rc = d.Feed(Encoding.UTF8.GetBytes(A + B + "\n" + Batch + "  \n"), log);
        await Assert.That(rc).IsEqualTo(RpcDecodeStatus.Ok);
        await Assert.That(log.Frames.SequenceEqual(new[] { A, B, Batch })).IsTrue();
        await Assert.That(d.Pending).IsEqualTo(0);
    }

    [Test]
    public async Task Values_split_at_every_byte_boundary_come_out_whole()
    {
        byte[] all = Encoding.UTF8.GetBytes(A + "\n" + B + Batch);
        var problems = new List<string>();
        for (int cut = 0; cut <= all.Length; cut++)
        {
            var d = new RpcDecoder();
            var log = new FrameLog();
            d.Feed(all.AsSpan(0, cut), log);
            d.Feed(all.AsSpan(cut), log);
            if (!log.Frames.SequenceEqual(new[] { A, B, Batch }))
            {
                problems.Add($"cut {cut}: {string.Join(" | ", log.Frames)}");
            }
        }
        var bytewise = new RpcDecoder();
        var one = new FrameLog();
        foreach (byte b in all)
        {
            bytewise.Feed(new[] { b }, one);
        }
        await Assert.That(problems).IsEmpty();
        await Assert.That(one.Frames.SequenceEqual(new[] { A, B, Batch })).IsTrue();
    }

    [Test]
    public async Task An_incomplete_value_waits_for_more_bytes()
    {
        var d = new RpcDecoder();
        var log = new FrameLog();
        d.Feed(Encoding.UTF8.GetBytes(A[..^1]), log);
        int pending = d.Pending;
        d.Feed("}"u8, log);
        await Assert.That(pending).IsEqualTo(Encoding.UTF8.GetByteCount(A) - 1);
        await Assert.That(log.Frames.Count).IsEqualTo(1);
    }

    [Test]
    public async Task A_stray_closing_bracket_or_comma_is_malformed_and_closes_the_decoder()
    {
        var d = new RpcDecoder();
        var log = new FrameLog();
        RpcDecodeStatus rc = d.Feed(Encoding.UTF8.GetBytes(A + "," + B), log);
        RpcDecodeStatus after = d.Feed(Encoding.UTF8.GetBytes(B), log);
        await Assert.That(rc).IsEqualTo(RpcDecodeStatus.Malformed);
        await Assert.That(after).IsEqualTo(RpcDecodeStatus.Closed);
        await Assert.That(log.Frames).IsEquivalentTo(new[] { A }); // what came before the error
    }

    [Test]
    public async Task A_value_over_the_size_limit_is_refused_without_growing()
    {
        var d = new RpcDecoder(maxRequestBytes: 64);
        var log = new FrameLog();
        string big = "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"s\":\"" + new string('a', 100) + "\"}}";
        RpcDecodeStatus rc = RpcDecodeStatus.Ok;
        foreach (byte b in Encoding.UTF8.GetBytes(big))
        {
            rc = d.Feed(new[] { b }, log);
            if (rc != RpcDecodeStatus.Ok)
            {
                break;
            }
        }
        var exact = new RpcDecoder(maxRequestBytes: Encoding.UTF8.GetByteCount(B));
        var fits = new FrameLog();
        RpcDecodeStatus exactRc = exact.Feed(Encoding.UTF8.GetBytes(B + B), fits);
        await Assert.That(rc).IsEqualTo(RpcDecodeStatus.TooLarge);
        await Assert.That(log.Frames).IsEmpty();
        await Assert.That(d.MaxRequestBytes).IsEqualTo(64);
        await Assert.That(exactRc).IsEqualTo(RpcDecodeStatus.Ok);
        await Assert.That(fits.Frames.Count).IsEqualTo(2);
    }

    [Test]
    public async Task Whitespace_between_values_never_fills_the_buffer()
    {
        var d = new RpcDecoder(maxRequestBytes: 64);
        var log = new FrameLog();
        RpcDecodeStatus rc = d.Feed(Encoding.UTF8.GetBytes(new string(' ', 10_000) + "\n\t\r" + "{}"), log);
        await Assert.That(rc).IsEqualTo(RpcDecodeStatus.Ok);
        await Assert.That(log.Frames).IsEquivalentTo(new[] { "{}" });
    }

    [Test]
    public async Task Nesting_deeper_than_the_limit_is_malformed()
    {
        var d = new RpcDecoder();
        var log = new FrameLog();
        RpcDecodeStatus rc = d.Feed(Encoding.UTF8.GetBytes(new string('[', RpcDecoder.MaxDepth + 1)), log);
        await Assert.That(rc).IsEqualTo(RpcDecodeStatus.Malformed);
    }

    [Test]
    public async Task Top_level_scalars_end_at_a_delimiter_and_garbage_is_one_value()
    {
        var d = new RpcDecoder();
        var log = new FrameLog();
        d.Feed("\"a}b\" 12{}garbage\n"u8, log);
        await Assert.That(string.Join(" ", log.Frames)).IsEqualTo("\"a}b\" 12 {} garbage");
    }
}
