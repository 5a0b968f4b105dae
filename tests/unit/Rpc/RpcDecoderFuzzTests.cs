using System.Text;
using NativeBdev.Rpc;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Rpc;

/// <summary>Random bytes and mutated fixture requests, in random chunks, through a whole
/// connection (decoder, parser, envelope and parameter checks): never an exception, never
/// more held than the request limit, replies bounded by the input. The methods are the real
/// table's declarations with handlers that create nothing, so a mutation cannot make
/// devices. Seeded: a failure names its seed.</summary>
public class RpcDecoderFuzzTests
{
    private const int Limit = 4096;

    private static RpcServer Harmless()
    {
        RpcServer real = RpcServer.WithCoreMethods();
        var s = new RpcServer();
        foreach (string name in real.MethodNames)
        {
            RpcMethod m = real.Find(name)!;
            s.Register(new RpcMethod(name, m.Parameters, (call, _) => call.Result(true)));
        }
        return s;
    }

    private static List<byte[]> Seeds()
    {
        string dir = Path.Combine(Fixtures.Directory(), "rpc");
        return Directory.GetFiles(dir, "*.request.json").Order().Select(File.ReadAllBytes).ToList();
    }

    private static byte[] Mutate(Random r, byte[] seed)
    {
        var b = new List<byte>(seed);
        int edits = r.Next(1, 8);
        const string interesting = "{}[]\",:\\ \n0-9eE.tfn\u00ff";
        for (int e = 0; e < edits && b.Count > 0; e++)
        {
            int at = r.Next(b.Count);
            switch (r.Next(5))
            {
                case 0:
                    b[at] = (byte)r.Next(256);
                    break;
                case 1:
                    b.RemoveAt(at);
                    break;
                case 2:
                    b.Insert(at, (byte)interesting[r.Next(interesting.Length)]);
                    break;
                case 3:
                    b.InsertRange(at, b.GetRange(at, Math.Min(r.Next(64), b.Count - at)));
                    break;
                default:
                    b[at] = (byte)interesting[r.Next(interesting.Length)];
                    break;
            }
        }
        return b.ToArray();
    }

    /// <summary>Feeds <paramref name="input"/> in random chunks; returns a problem or null.</summary>
    private static string? Run(Random r, RpcServer server, byte[] input)
    {
        var c = new RpcConnection(server, Limit);
        long output = 0;
        int at = 0;
        while (at < input.Length)
        {
            int n = Math.Min(input.Length - at, r.Next(1, 300));
            try
            {
                c.Receive(input.AsSpan(at, n));
            }
            catch (Exception e)
            {
                return $"{e.GetType().Name}: {e.Message} on {Encoding.UTF8.GetString(input)}";
            }
            at += n;
            if (c.Pending > Limit)
            {
                return $"{c.Pending} bytes held, over the {Limit} limit";
            }
            output += c.TakeOutput().Length;
        }
        // A reply is at most ~300 bytes (an error naming a parameter), and needs a request
        // of at least two bytes.
        return output > 200L * input.Length + 512 ? $"{output} bytes of replies to {input.Length} bytes" : null;
    }

    [Test]
    public async Task Random_bytes_never_throw_and_never_grow_the_buffer()
    {
        int seed = Environment.TickCount;
        var r = new Random(seed);
        RpcServer server = Harmless();
        string? problem = null;
        for (int i = 0; i < 2000 && problem == null; i++)
        {
            var input = new byte[r.Next(1, 3 * Limit)];
            r.NextBytes(input);
            if (r.Next(2) == 0)
            {
                // Mostly JSON punctuation, so the scanner goes deep into strings and nesting.
                const string alphabet = "{}[]\"\\:, \n1atrue";
                for (int k = 0; k < input.Length; k++)
                {
                    input[k] = (byte)alphabet[input[k] % alphabet.Length];
                }
            }
            problem = Run(r, server, input);
        }
        await Assert.That(problem).IsNull().Because($"seed {seed}");
    }

    [Test]
    public async Task Mutated_fixture_requests_never_throw()
    {
        int seed = Environment.TickCount;
        var r = new Random(seed);
        RpcServer server = Harmless();
        List<byte[]> seeds = Seeds();
        string? problem = null;
        int replied = 0;
        for (int i = 0; i < 3000 && problem == null; i++)
        {
            byte[] a = Mutate(r, seeds[r.Next(seeds.Count)]);
            byte[] b = seeds[r.Next(seeds.Count)];
            byte[] input = r.Next(3) == 0 ? a.Concat(b).ToArray() : a;
            problem = Run(r, server, input);
            replied++;
        }
        await Assert.That(problem).IsNull().Because($"seed {seed}");
        await Assert.That(replied).IsEqualTo(3000);
    }
}
