using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Delay;

/// <summary>delay:///BASE?avg_read_us=&amp;p99_read_us=&amp;avg_write_us=&amp;p99_write_us=&amp;name=
/// — SPDK's delay bdev: a passthrough whose completions are held for a configured latency,
/// the p99 one for 1% of I/Os. Its latencies are fault rules of its own (delay at
/// completion), so they cost nothing when zero. Default name BASE_delay.</summary>
internal sealed class DelayModule : IBdevModule
{
    public string Name => "delay";
    public ReadOnlySpan<string> Schemes => new[] { "delay" };

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        ulong avgR = 0, p99R = 0, avgW = 0, p99W = 0;
        const ulong max = 60_000_000; // a minute
        int rc;
        if ((rc = uri.GetU64("avg_read_us", ref avgR, 0, max)) != 0 ||
            (rc = uri.GetU64("p99_read_us", ref p99R, 0, max)) != 0 ||
            (rc = uri.GetU64("avg_write_us", ref avgW, 0, max)) != 0 ||
            (rc = uri.GetU64("p99_write_us", ref p99W, 0, max)) != 0)
        {
            return rc;
        }
        if ((p99R != 0 && p99R < avgR) || (p99W != 0 && p99W < avgW))
        {
            return LastError.Set(Errno.EINVAL, "a p99 latency must be at least the average");
        }
        if ((rc = PassthroughBdev.CreateOver(uri, "delay", b => b + "_delay", "Delay of ",
                "avg_read_us, p99_read_us, avg_write_us, p99_write_us, name, uuid", out PassthroughBdev? bdev)) != 0)
        {
            return rc;
        }
        // The first rule that fires decides: 1% take the p99 latency, the rest the average.
        string target = "inject://" + Uri.EscapeDataString(bdev!.Name) + "?stage=compl";
        if ((rc = AddDelay(target, "read", p99R, 0.01)) < 0 || (rc = AddDelay(target, "read", avgR, 1)) < 0 ||
            (rc = AddDelay(target, "write", p99W, 0.01)) < 0 || (rc = AddDelay(target, "write", avgW, 1)) < 0)
        {
            BdevRegistry.Destroy(bdev.Name, null);
            return rc;
        }
        bdev.ConfigWriter = (writer, b) => BdevConfig.Entry(writer, "bdev_delay_create", w =>
        {
            w.WriteString("name", b.Name);
            w.WriteString("base_bdev_name", b.Base.Name);
            w.WriteString("uuid", b.Uuid.ToString());
            w.WriteNumber("avg_read_latency", avgR);
            w.WriteNumber("p99_read_latency", p99R);
            w.WriteNumber("avg_write_latency", avgW);
            w.WriteNumber("p99_write_latency", p99W);
        });
        name = bdev.Name;
        return 0;
    }

    private static int AddDelay(string target, string op, ulong us, double probability) =>
        us == 0 ? 0 : FaultRegistry.AddInternal(
            $"{target}&op={op}&method=delay-{us}" +
            $"&probability={probability.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
}
