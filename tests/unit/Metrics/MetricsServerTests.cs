using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Metrics;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Metrics;

/// <summary>The scrape endpoint over a real socket: every line of what it serves parses as
/// Prometheus' text format, the counters count the I/O done, each histogram is cumulative
/// and ends at +Inf with its count; bad requests get their HTTP error.</summary>
[NotInParallel(Keys.Threads)]
public partial class MetricsServerTests
{
    [GeneratedRegex("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})? ([^ ]+)$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$")]
    private static partial Regex CommentLine();

    [GeneratedRegex("^([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\\n]|\\\\[\\\\\"n])*)\"(,|$)")]
    private static partial Regex LabelPair();

    private sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);

    /// <summary>A strict reader of the text format: a TYPE before a family's samples, each
    /// family once, labels well quoted, values Go's floats. Throws naming the bad line.</summary>
    private static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        var types = new Dictionary<string, string>();
        string? family = null;
        var seen = new HashSet<string>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }
            Match c = CommentLine().Match(line);
            if (c.Success)
            {
                string name = c.Groups[2].Value;
                if (c.Groups[1].Value == "TYPE")
                {
                    if (!seen.Add(name) || c.Groups[3].Value is not ("counter" or "gauge" or "histogram"))
                    {
                        throw new FormatException($"bad or repeated TYPE: {line}");
                    }
                    types[name] = c.Groups[3].Value;
                    family = name;
                }
                continue;
            }
            Match m = SampleLine().Match(line);
            if (!m.Success)
            {
                throw new FormatException($"not a sample: {line}");
            }
            string sample = m.Groups[1].Value;
            string owner = types.ContainsKey(sample) ? sample
                : Regex.Replace(sample, "_(bucket|sum|count)$", "");
            if (owner != family || !types.ContainsKey(owner))
            {
                throw new FormatException($"sample outside its family's block: {line}");
            }
            var labels = new Dictionary<string, string>();
            string rest = m.Groups[3].Value;
            while (rest.Length > 0)
            {
                Match l = LabelPair().Match(rest);
                if (!l.Success || !labels.TryAdd(l.Groups[1].Value, l.Groups[2].Value))
                {
                    throw new FormatException($"bad labels: {line}");
                }
                rest = rest[l.Length..];
            }
            string v = m.Groups[4].Value;
            double value = v == "+Inf" ? double.PositiveInfinity : v == "-Inf" ? double.NegativeInfinity
                : double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture);
            samples.Add(new Sample(sample, labels, value));
        }
        return samples;
    }

    private static (int Status, string Body) Get(LightweightThread t, int port, string request)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Connect(new IPEndPoint(IPAddress.Loopback, port));
        s.Send(Encoding.ASCII.GetBytes(request));
        s.Blocking = false;
        var got = new MemoryStream();
        var buf = new byte[65536];
        bool eof = false;
        ThreadHost.PollUntil(() =>
        {
            try
            {
                int n = s.Receive(buf);
                if (n == 0)
                {
                    eof = true;
                }
                got.Write(buf, 0, n);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
            }
            return eof;
        }, t);
        string text = Encoding.UTF8.GetString(got.ToArray());
        int sp = text.IndexOf(' ');
        int headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (sp < 0 ? 0 : int.Parse(text.AsSpan(sp + 1, 3), CultureInfo.InvariantCulture),
            headEnd < 0 ? "" : text[(headEnd + 4)..]);
    }

    [Test]
    public async Task A_scrape_parses_line_by_line_and_counts_the_io_done()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("metrics");
        string name = Bdevs.Malloc("metr\"ics"); // a quote the label must escape
        using var buf = new DmaBuffer(4096);
        int rc = ThreadHost.OnThread(t, () => MetricsServer.Start("127.0.0.1:0"));
        try
        {
            int port = int.Parse(MetricsServer.Current!.Endpoint.Text.Split(':')[^1], CultureInfo.InvariantCulture);
            var s = BdevSession.Open(t, name);
            for (int i = 0; i < 5; i++)
            {
                s.Run(BdevIoType.Read, buf.Pointer, (ulong)i * 8, 8);
            }
            s.Run(BdevIoType.Write, buf.Pointer, 0, 8);
            s.Close();
            (int status, string body) = Get(t, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            List<Sample> samples = Parse(body);
            double Value(string n, params (string, string)[] want) => samples.Single(x => x.Name == n &&
                want.All(w => x.Labels.TryGetValue(w.Item1, out string? v) && v == w.Item2)).Value;
            string label = name.Replace("\"", "\\\"");
            await Assert.That(rc).IsEqualTo(0);
            await Assert.That(status).IsEqualTo(200);
            await Assert.That(Value("nbdev_bdev_ops_total", ("bdev", label), ("op", "read"))).IsEqualTo(5);
            await Assert.That(Value("nbdev_bdev_bytes_total", ("bdev", label), ("op", "read"))).IsEqualTo(5 * 4096);
            await Assert.That(Value("nbdev_bdev_ops_total", ("bdev", label), ("op", "write"))).IsEqualTo(1);
            await Assert.That(Value("nbdev_bdev_errors_total", ("bdev", label), ("op", "read"))).IsEqualTo(0);
            // The histogram: cumulative, ending at +Inf with the count, the sum positive.
            var buckets = samples.Where(x => x.Name == "nbdev_bdev_io_latency_seconds_bucket" &&
                x.Labels["bdev"] == label).ToList();
            double count = Value("nbdev_bdev_io_latency_seconds_count", ("bdev", label));
            await Assert.That(count).IsEqualTo(6);
            await Assert.That(buckets[^1].Labels["le"]).IsEqualTo("+Inf");
            await Assert.That(buckets[^1].Value).IsEqualTo(count);
            for (int i = 1; i < buckets.Count; i++)
            {
                await Assert.That(buckets[i].Value).IsGreaterThanOrEqualTo(buckets[i - 1].Value);
            }
            await Assert.That(Value("nbdev_bdev_io_latency_seconds_sum", ("bdev", label))).IsGreaterThan(0);
            await Assert.That(samples.Any(x => x.Name == "nbdev_thread_busy_seconds_total" &&
                x.Labels["thread"] == "metrics")).IsTrue();

            (int notFound, _) = Get(t, port, "GET /other HTTP/1.1\r\n\r\n");
            (int notGet, _) = Get(t, port, "POST /metrics HTTP/1.1\r\n\r\n");
            (int garbage, _) = Get(t, port, "hello\r\n\r\n");
            (int huge, _) = Get(t, port, "GET /metrics HTTP/1.1\r\nX: " + new string('a', 9000) + "\r\n\r\n");
            (int head, string headBody) = Get(t, port, "HEAD /metrics HTTP/1.0\r\n\r\n");
            await Assert.That((notFound, notGet, garbage, huge)).IsEqualTo((404, 405, 400, 431));
            await Assert.That((head, headBody)).IsEqualTo((200, ""));
            await Assert.That(MetricsServer.Current!.Scrapes).IsEqualTo(2);
        }
        finally
        {
            ThreadHost.OnThread(t, MetricsServer.Stop);
            Bdevs.DestroyAndWait(name, t);
        }
    }

    [Test]
    public async Task Only_one_server_and_only_tcp()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread t = host.Create("metrics-2");
        int unix = ThreadHost.OnThread(t, () => MetricsServer.Start("/tmp/nb-metrics.sock"));
        int first = ThreadHost.OnThread(t, () => MetricsServer.Start("127.0.0.1:0"));
        int second = ThreadHost.OnThread(t, () => MetricsServer.Start("127.0.0.1:0"));
        int elsewhere = MetricsServer.Stop();
        int stopped = ThreadHost.OnThread(t, MetricsServer.Stop);
        int again = ThreadHost.OnThread(t, MetricsServer.Stop);
        await Assert.That((unix, first, second)).IsEqualTo((-22, 0, -114));
        await Assert.That((elsewhere, stopped, again)).IsEqualTo((-22, 0, -2));
    }
}
