using System.Diagnostics;
using NativeBdev.Env;

namespace NativeBdev.Tests.Env;

public class TicksTests
{
    [Test]
    public async Task Clock_is_monotonic()
    {
        long previous = Ticks.Now, backwards = 0;
        for (int i = 0; i < 100_000; i++)
        {
            long now = Ticks.Now;
            backwards += now < previous ? 1 : 0;
            previous = now;
        }

        await Assert.That(backwards).IsEqualTo(0);
    }

    [Test]
    [NotInParallel(Support.Keys.Threads)]
    public async Task Tick_rate_agrees_with_the_monotonic_clock_within_one_percent()
    {
        // Timed pollers and reactor sleeps convert periods with Hz: an error here is the
        // same error in every period.
        long t0 = Ticks.Now, sw0 = Stopwatch.GetTimestamp();
        Thread.Sleep(300);
        long t1 = Ticks.Now, sw1 = Stopwatch.GetTimestamp();
        double ticksSeconds = (double)(t1 - t0) / Ticks.Hz;
        double clockSeconds = (double)(sw1 - sw0) / Stopwatch.Frequency;
        Console.WriteLine($"Hz {Ticks.Hz}, tsc {Ticks.UsesTsc}, ratio {ticksSeconds / clockSeconds:F4}");

        await Assert.That(ticksSeconds / clockSeconds).IsBetween(0.99, 1.01);
        await Assert.That(Ticks.FromMicroseconds(1_000_000)).IsEqualTo(Ticks.Hz);
    }
}
