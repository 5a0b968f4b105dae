using System;
using System.Globalization;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

internal enum FaultStage
{
    Submit,
    Completion,
}

internal enum FaultMethod
{
    Status,      // fail with an errno (default -EIO)
    NvmeStatus,  // fail with an NVMe status (sct, sc)
    Data,        // corrupt the data a read returns
    Delay,       // hold the I/O for a time
    Timeout,     // hold the I/O until a reset or the timeout machinery releases it
}

/// <summary>One fault-injection rule on one bdev, parsed from Mayastor's inject:// form
/// extended with count/every/probability and delay/timeout:
/// <c>inject://BDEV?op=read|write|rw|unmap|flush|zeroes|all&amp;stage=submit|compl&amp;
/// method=status|status-nvme-SCT-SC|data|delay-US|timeout&amp;offset=BLK&amp;num_blk=N&amp;
/// begin_at=MS&amp;end_at=MS&amp;count=N&amp;every=N&amp;probability=P&amp;errno=E</c>.
/// Counters are shared by every thread's channel, so they are updated atomically — only
/// when a bdev has rules; a bdev without rules pays one null check per I/O.</summary>
internal sealed class FaultRule
{
    private static int s_nextId;

    public int Id { get; }
    public string Uri { get; }
    public string BdevName { get; }
    public uint OpMask { get; private set; }
    public FaultStage Stage { get; private set; }
    public FaultMethod Method { get; private set; }
    public int Errno { get; private set; } = Interop.Errno.EIO;
    public ushort Sct { get; private set; }
    public ushort Sc { get; private set; }
    public long DelayTicks { get; private set; }
    public ulong Offset { get; private set; }
    public ulong NumBlocks { get; private set; } // 0: to the end
    public long BeginTicks { get; private set; }
    public long EndTicks { get; private set; } = long.MaxValue;
    public long Count { get; private set; }      // 0: unlimited
    public long Every { get; private set; } = 1;
    public double Probability { get; private set; } = 1.0;
    private long _matched;
    private long _fired;
    private ulong _rng;

    /// <summary>A rule a module added for its own purpose (a delay bdev's latencies, an error
    /// bdev's injections): not listed, not cleared by hosts.</summary>
    public bool Internal { get; init; }

    public long Matched => Volatile.Read(ref _matched);
    public long Fired => Volatile.Read(ref _fired);

    private FaultRule(string uri, string bdev)
    {
        Id = Interlocked.Increment(ref s_nextId);
        Uri = uri;
        BdevName = bdev;
        _rng = (ulong)Id * 0x9E3779B97F4A7C15UL | 1;
    }

    public static int Parse(string? text, out FaultRule? rule) => Parse(text, false, out rule);

    public static int Parse(string? text, bool isInternal, out FaultRule? rule)
    {
        rule = null;
        int rc = BdevUri.Parse(text, out BdevUri? uri);
        if (rc != 0)
        {
            return rc;
        }
        if (uri!.Scheme != "inject")
        {
            return LastError.Set(Interop.Errno.EINVAL, $"fault rules are inject:// URIs, not {uri.Scheme}://");
        }
        // Mayastor writes inject://BDEV?...; a path form (inject:///dev/sdb?...) names bdevs
        // called by their path.
        string bdev = uri.Host.Length > 0 ? System.Uri.UnescapeDataString(uri.Host) : uri.Path;
        if (bdev.Length == 0 || bdev == "/")
        {
            return LastError.Set(Interop.Errno.EINVAL,
                "inject:// needs a bdev name: inject://BDEV?op=read&method=status");
        }
        var r = new FaultRule(text!, bdev) { Internal = isInternal };
        if ((rc = r.ParseOp(uri.Get("op") ?? "all")) != 0 || (rc = r.ParseStage(uri.Get("stage") ?? "submit")) != 0 ||
            (rc = r.ParseMethod(uri.Get("method") ?? "status")) != 0)
        {
            return rc;
        }
        ulong offset = 0, num = 0, begin = 0, end = 0, count = 0, every = 1, errno = (ulong)Interop.Errno.EIO;
        if ((rc = uri.GetU64("offset", ref offset)) != 0 || (rc = uri.GetU64("num_blk", ref num)) != 0 ||
            (rc = uri.GetU64("begin_at", ref begin, 0, 1UL << 40)) != 0 ||
            (rc = uri.GetU64("end_at", ref end, 0, 1UL << 40)) != 0 ||
            (rc = uri.GetU64("count", ref count, 0, long.MaxValue)) != 0 ||
            (rc = uri.GetU64("every", ref every, 1, int.MaxValue)) != 0 ||
            (rc = uri.GetU64("errno", ref errno, 1, 4095)) != 0)
        {
            return rc;
        }
        string? p = uri.Get("probability");
        if (p != null && (!double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double prob) ||
            !(prob >= 0 && prob <= 1)))
        {
            return LastError.Set(Interop.Errno.EINVAL, $"probability='{p}' must be a number from 0 to 1");
        }
        if (num != 0 && offset + num < offset)
        {
            return LastError.Set(Interop.Errno.EINVAL,
                $"offset {offset} + num_blk {num} reaches 2^64 blocks: the range would match no I/O");
        }
        // SPDK's error bdev fails `num` I/Os and none when num is 0; unlimited here is an
        // absent count. A count=0 firing forever would surprise an SPDK user: refuse it.
        if (uri.Has("count") && count == 0)
        {
            return LastError.Set(Interop.Errno.EINVAL,
                "count=0 would fire no I/O: give count=N with N >= 1, or leave count out for no limit");
        }
        if (uri.Has("end_at") && end <= begin)
        {
            return LastError.Set(Interop.Errno.EINVAL, $"end_at {end} ms must come after begin_at {begin} ms");
        }
        if ((rc = uri.CheckAllUsed(
                "op, stage, method, offset, num_blk, begin_at, end_at, count, every, probability, errno")) != 0)
        {
            return rc;
        }
        if (r.Method == FaultMethod.Data &&
            (r.Stage != FaultStage.Completion || (r.OpMask & ~(1u << (int)BdevIoType.Read)) != 0))
        {
            return LastError.Set(Interop.Errno.EINVAL,
                "method=data corrupts what reads return: it needs op=read and stage=compl");
        }
        long now = Ticks.Now;
        r.Offset = offset;
        r.NumBlocks = num;
        r.BeginTicks = now + Ticks.FromMicroseconds((long)begin * 1000);
        r.EndTicks = uri.Has("end_at") ? now + Ticks.FromMicroseconds((long)end * 1000) : long.MaxValue;
        r.Count = (long)count;
        r.Every = (long)every;
        r.Probability = p == null ? 1.0 : double.Parse(p, CultureInfo.InvariantCulture);
        r.Errno = (int)errno;
        rule = r;
        return 0;
    }

    private int ParseOp(string op)
    {
        uint read = 1u << (int)BdevIoType.Read, write = 1u << (int)BdevIoType.Write;
        OpMask = op switch
        {
            "read" or "r" => read,
            "write" or "w" => write,
            "rw" => read | write,
            "unmap" => 1u << (int)BdevIoType.Unmap,
            "flush" => 1u << (int)BdevIoType.Flush,
            "zeroes" or "write_zeroes" => 1u << (int)BdevIoType.WriteZeroes,
            "all" => read | write | 1u << (int)BdevIoType.Unmap | 1u << (int)BdevIoType.Flush |
                     1u << (int)BdevIoType.WriteZeroes,
            _ => 0,
        };
        return OpMask != 0 ? 0 : LastError.Set(Interop.Errno.EINVAL,
            $"op='{op}' is not one of read, write, rw, unmap, flush, zeroes, all");
    }

    private int ParseStage(string stage)
    {
        switch (stage)
        {
            case "submit":
                Stage = FaultStage.Submit;
                return 0;
            case "compl":
            case "completion":
                Stage = FaultStage.Completion;
                return 0;
            default:
                return LastError.Set(Interop.Errno.EINVAL, $"stage='{stage}' is not submit or compl");
        }
    }

    private int ParseMethod(string m)
    {
        if (m == "status")
        {
            Method = FaultMethod.Status;
            return 0;
        }
        if (m == "data")
        {
            Method = FaultMethod.Data;
            return 0;
        }
        if (m == "timeout")
        {
            Method = FaultMethod.Timeout;
            return 0;
        }
        string[] parts = m.Split('-');
        if (parts.Length == 4 && parts[0] == "status" && parts[1] == "nvme" &&
            TryNumber(parts[2], out ulong sct) && TryNumber(parts[3], out ulong sc) && sct <= 7 && sc <= 255 &&
            (sct | sc) != 0)
        {
            Method = FaultMethod.NvmeStatus;
            Sct = (ushort)sct;
            Sc = (ushort)sc;
            return 0;
        }
        if (parts.Length == 2 && parts[0] == "delay" && ulong.TryParse(parts[1], NumberStyles.None,
            CultureInfo.InvariantCulture, out ulong us) && us <= 3_600_000_000UL)
        {
            Method = FaultMethod.Delay;
            DelayTicks = Ticks.FromMicroseconds((long)us);
            return 0;
        }
        return LastError.Set(Interop.Errno.EINVAL,
            $"method='{m}' is not status, status-nvme-SCT-SC, data, delay-MICROSECONDS or timeout");
    }

    private static bool TryNumber(string s, out ulong v) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
        ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
        : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);

    /// <summary>Whether this rule fires for <paramref name="io"/> now. Counts the match
    /// and the firing; once <see cref="Count"/> firings are done it never fires again.</summary>
    public unsafe bool Fires(BdevIo* io, FaultStage stage, long now)
    {
        if (stage != Stage || (OpMask & (1u << (int)io->Type)) == 0 || now < BeginTicks || now >= EndTicks)
        {
            return false;
        }
        if (NumBlocks != 0 ? io->OffsetBlocks + io->NumBlocks <= Offset || io->OffsetBlocks >= Offset + NumBlocks
                           : io->OffsetBlocks + io->NumBlocks <= Offset && io->NumBlocks != 0)
        {
            return false;
        }
        long n = Interlocked.Increment(ref _matched);
        if (n % Every != 0)
        {
            return false;
        }
        if (Probability < 1.0 && NextDouble() >= Probability)
        {
            return false;
        }
        if (Count > 0)
        {
            long f = Interlocked.Increment(ref _fired);
            if (f > Count)
            {
                Interlocked.Decrement(ref _fired);
                return false;
            }
            return true;
        }
        Interlocked.Increment(ref _fired);
        return true;
    }

    private double NextDouble()
    {
        // xorshift; races between threads only perturb the sequence, which is random anyway.
        ulong x = _rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        _rng = x;
        return (x >> 11) * (1.0 / (1UL << 53));
    }
}
