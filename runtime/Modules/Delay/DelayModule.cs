using System;
using System.Collections.Generic;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Delay;

/// <summary>delay:///BASE?avg_read_us=&amp;p99_read_us=&amp;avg_write_us=&amp;p99_write_us=&amp;name=
/// — SPDK's delay bdev: a passthrough whose completions are held for a configured latency,
/// the p99 one for 1% of I/Os. Its latencies are fault rules of its own (delay at
/// completion), so they cost nothing when zero. Default name BASE_delay.</summary>
internal sealed class DelayModule : IBdevModule, IDelayBdevTuner
{
    private const ulong MaxMicroseconds = 60_000_000; // a minute

    /// <summary>A delay bdev's latencies, by bdev name (read by its config writer).</summary>
    private static readonly Dictionary<string, DelayLatencies> s_latencies = new(StringComparer.Ordinal);

    public string Name => "delay";
    public ReadOnlySpan<string> Schemes => new[] { "delay" };

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        var l = new DelayLatencies();
        int rc;
        if ((rc = uri.GetU64("avg_read_us", ref l.AvgRead, 0, MaxMicroseconds)) != 0 ||
            (rc = uri.GetU64("p99_read_us", ref l.P99Read, 0, MaxMicroseconds)) != 0 ||
            (rc = uri.GetU64("avg_write_us", ref l.AvgWrite, 0, MaxMicroseconds)) != 0 ||
            (rc = uri.GetU64("p99_write_us", ref l.P99Write, 0, MaxMicroseconds)) != 0 ||
            (rc = l.Check()) != 0)
        {
            return rc;
        }
        if ((rc = PassthroughBdev.CreateOver(uri, "delay", b => b + "_delay", "Delay of ",
                "avg_read_us, p99_read_us, avg_write_us, p99_write_us, name, uuid", out PassthroughBdev? bdev)) != 0)
        {
            return rc;
        }
        if ((rc = Apply(bdev!.Name, l)) < 0)
        {
            BdevRegistry.Destroy(bdev.Name, null);
            return rc;
        }
        lock (s_latencies)
        {
            s_latencies[bdev.Name] = l;
        }
        bdev.ConfigWriter = (writer, b) => BdevConfig.Entry(writer, "bdev_delay_create", w =>
        {
            DelayLatencies now = Latencies(b.Name) ?? l;
            w.WriteString("name", b.Name);
            w.WriteString("base_bdev_name", b.Base.Name);
            w.WriteString("uuid", b.Uuid.ToString());
            w.WriteNumber("avg_read_latency", now.AvgRead);
            w.WriteNumber("p99_read_latency", now.P99Read);
            w.WriteNumber("avg_write_latency", now.AvgWrite);
            w.WriteNumber("p99_write_latency", now.P99Write);
        });
        name = bdev.Name;
        return 0;
    }

    public int UpdateLatency(string bdevName, string latencyType, ulong microseconds)
    {
        if (BdevRegistry.Find(bdevName) is not { ModuleName: "delay" } || Latencies(bdevName) is not { } old)
        {
            return LastError.Set(Errno.ENODEV, $"no delay bdev named '{bdevName}'");
        }
        if (microseconds > MaxMicroseconds)
        {
            return LastError.Set(Errno.EINVAL, $"latency_us {microseconds}: at most {MaxMicroseconds} (a minute)");
        }
        DelayLatencies l = old.Copy();
        switch (latencyType)
        {
            case "avg_read":
                l.AvgRead = microseconds;
                break;
            case "p99_read":
                l.P99Read = microseconds;
                break;
            case "avg_write":
                l.AvgWrite = microseconds;
                break;
            case "p99_write":
                l.P99Write = microseconds;
                break;
            default:
                return LastError.Set(Errno.EINVAL,
                    $"latency_type '{latencyType}' is not avg_read, p99_read, avg_write or p99_write");
        }
        int rc = l.Check();
        if (rc != 0)
        {
            return rc;
        }
        FaultRegistry.RemoveInternal(bdevName);
        if ((rc = Apply(bdevName, l)) < 0)
        {
            Apply(bdevName, old); // the rules it had, which were accepted once
            return rc;
        }
        lock (s_latencies)
        {
            s_latencies[bdevName] = l;
        }
        return 0;
    }

    public void Fini()
    {
        lock (s_latencies)
        {
            s_latencies.Clear();
        }
    }

    private static DelayLatencies? Latencies(string name)
    {
        lock (s_latencies)
        {
            return s_latencies.GetValueOrDefault(name);
        }
    }

    /// <summary>The first rule that fires decides: 1% take the p99 latency, the rest the average.</summary>
    private static int Apply(string bdevName, DelayLatencies l)
    {
        string target = "inject://" + Uri.EscapeDataString(bdevName) + "?stage=compl";
        int rc;
        if ((rc = AddDelay(target, "read", l.P99Read, 0.01)) < 0 || (rc = AddDelay(target, "read", l.AvgRead, 1)) < 0 ||
            (rc = AddDelay(target, "write", l.P99Write, 0.01)) < 0 ||
            (rc = AddDelay(target, "write", l.AvgWrite, 1)) < 0)
        {
            FaultRegistry.RemoveInternal(bdevName);
            return rc;
        }
        return 0;
    }

    private static int AddDelay(string target, string op, ulong us, double probability) =>
        us == 0 ? 0 : FaultRegistry.AddInternal(
            $"{target}&op={op}&method=delay-{us}" +
            $"&probability={probability.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

    private sealed class DelayLatencies
    {
        public ulong AvgRead, P99Read, AvgWrite, P99Write;

        public DelayLatencies Copy() => (DelayLatencies)MemberwiseClone();

        public int Check() =>
            (P99Read != 0 && P99Read < AvgRead) || (P99Write != 0 && P99Write < AvgWrite)
                ? LastError.Set(Errno.EINVAL, "a p99 latency must be at least the average")
                : 0;
    }
}
