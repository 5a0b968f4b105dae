using System;
using System.Diagnostics;
using NativeBdev.Crypto;

// Usage: CipherBench UNIT_BYTES SECONDS. Encrypts one UNIT_BYTES buffer in place again and
// again, as `openssl speed -bytes N` does, and prints MB/s (10^6 bytes, openssl's unit) per
// second of user CPU time (openssl's default divisor).
unsafe
{
    uint unit = uint.Parse(args[0]);
    double seconds = double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
    byte[] key = new byte[32], key2 = new byte[32];
    new Random(1).NextBytes(key);
    new Random(2).NextBytes(key2);
    CipherKey.TryCreate(CryptoCipher.AesXts, key, key2, out CipherKey? k, out string? error);
    byte[] buf = GC.AllocateArray<byte>((int)unit, pinned: true);
    fixed (byte* p = buf)
    {
        for (int i = 0; i < 20000; i++)
        {
            k!.EncryptUnits(p, p, unit, unit, (ulong)i, TweakLayout.SpdkSw); // warm-up and tiering
        }
        long n = 0;
        TimeSpan user0 = Environment.CpuUsage.UserTime;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 256; i++)
            {
                k!.EncryptUnits(p, p, unit, unit, (ulong)n++, TweakLayout.SpdkSw);
            }
        }
        // Per second of user CPU time, as openssl speed counts by default (without -elapsed):
        // on a shared machine wall-clock time would charge us for the other jobs' time slices.
        double user = (Environment.CpuUsage.UserTime - user0).TotalSeconds;
        Console.WriteLine($"{n * (double)unit / user / 1e6:F0}");
    }
    k!.Dispose();
}
