using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using static NativeBdev.Rpc.RpcParam;
using BlockDevice = NativeBdev.Bdev.Bdev;
using ReactorLoop = NativeBdev.Reactor.Reactor;

namespace NativeBdev.Rpc.Methods;

/// <summary>bdev_get_iostat, bdev_reset_iostat, thread_get_stats and framework_get_reactors in
/// SPDK's shapes. Ticks are the runtime's clock (<see cref="Ticks.Hz"/> is tick_rate). A
/// thread's busy and idle ticks run from poll to poll; a reactor's are the sums of its
/// threads'. SPDK's per-reactor irq/sys/usr come from /proc for the reactor's OS thread.</summary>
internal static class StatsMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_get_iostat",
            [Opt("name", RpcParamKind.String), Opt("per_channel", RpcParamKind.Bool)], GetIostat));
        server.Register(new RpcMethod("bdev_reset_iostat",
            [Opt("name", RpcParamKind.String), Opt("mode", RpcParamKind.String)], ResetIostat));
        server.Register(new RpcMethod("thread_get_stats", [], GetThreadStats));
        server.Register(new RpcMethod("framework_get_reactors", [], (call, _) => call.Result(WriteReactors)));
    }

    private static void GetIostat(RpcCall call, RpcParams args)
    {
        string? name = args.String("name");
        BlockDevice? one = name == null ? null : BdevRegistry.Find(name);
        if (name != null && one == null)
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        if (args.Bool("per_channel"))
        {
            if (one == null)
            {
                call.Error(-Errno.EINVAL, "Bdev name is required for per channel IO statistics");
                return;
            }
            call.Result(w =>
            {
                w.WriteStartObject();
                WriteClock(w);
                w.WriteString("name", one.Name);
                w.WriteStartArray("channels");
                foreach (IoChannel ch in one.IoDevice.ChannelSnapshot())
                {
                    if (ch.State is BdevChannel bc)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("thread_id", ch.Thread.Index + 1);
                        WriteCounters(w, bc.Stats);
                        w.WriteEndObject();
                    }
                }
                w.WriteEndArray();
                w.WriteEndObject();
            });
            return;
        }
        call.Result(w =>
        {
            w.WriteStartObject();
            WriteClock(w);
            w.WriteStartArray("bdevs");
            foreach (BlockDevice b in one != null ? [one] : BdevRegistry.Snapshot())
            {
                w.WriteStartObject();
                w.WriteString("name", b.Name);
                WriteCounters(w, b.CollectStats());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static void WriteClock(Utf8JsonWriter w)
    {
        w.WriteNumber("tick_rate", Ticks.Hz);
        w.WriteNumber("ticks", Ticks.Now);
    }

    /// <summary>spdk_bdev_io_stat's JSON fields; copy is not an operation here, so its counters
    /// stay 0; io_error is SPDK's per-status error map, which we do not keep.</summary>
    private static void WriteCounters(Utf8JsonWriter w, BdevStats s)
    {
        OpStats read = s.Ops[(int)BdevIoType.Read], write = s.Ops[(int)BdevIoType.Write],
            unmap = s.Ops[(int)BdevIoType.Unmap];
        w.WriteNumber("bytes_read", read.Bytes);
        w.WriteNumber("num_read_ops", read.Ops);
        w.WriteNumber("bytes_written", write.Bytes);
        w.WriteNumber("num_write_ops", write.Ops);
        w.WriteNumber("bytes_unmapped", unmap.Bytes);
        w.WriteNumber("num_unmap_ops", unmap.Ops);
        w.WriteNumber("bytes_copied", 0);
        w.WriteNumber("num_copy_ops", 0);
        WriteLatency(w, "read", read);
        WriteLatency(w, "write", write);
        WriteLatency(w, "unmap", unmap);
        WriteLatency(w, "copy", default);
        w.WriteStartObject("io_error");
        w.WriteEndObject();
    }

    private static void WriteLatency(Utf8JsonWriter w, string op, in OpStats o)
    {
        w.WriteNumber(op + "_latency_ticks", o.LatencyTicks);
        w.WriteNumber("max_" + op + "_latency_ticks", o.MaxLatencyTicks);
        w.WriteNumber("min_" + op + "_latency_ticks", o.Ops == 0 ? 0 : o.MinLatencyTicks);
    }

    /// <summary>SPDK's modes: all (every counter) and maxmin (only the max/min latencies,
    /// which we do not clear apart). A missing name resets every bdev.</summary>
    private static void ResetIostat(RpcCall call, RpcParams args)
    {
        string mode = args.String("mode", "all")!;
        if (mode != "all")
        {
            call.Error(RpcError.InvalidParams, mode == "maxmin"
                ? $"{RpcError.InvalidParamsMessage}: 'mode' maxmin is not supported (all is)"
                : $"{RpcError.InvalidParamsMessage}: 'mode' must be all or maxmin");
            return;
        }
        string? name = args.String("name");
        BlockDevice[] targets;
        if (name != null)
        {
            BlockDevice? b = BdevRegistry.Find(name);
            if (b == null)
            {
                call.Errno(-Errno.ENODEV);
                return;
            }
            targets = [b];
        }
        else
        {
            targets = BdevRegistry.Snapshot();
        }
        // One more than the bdevs: the last is this method's own, so no reply goes before all
        // resets have started.
        Action<int> resetDone = BdevRpc.AfterAll(call, targets.Length + 1);
        foreach (BlockDevice b in targets)
        {
            int rc = BdevStatistics.Reset(b, resetDone);
            if (rc != 0)
            {
                resetDone(rc);
            }
        }
        resetDone(0);
    }

    private readonly record struct ThreadStats(string Name, int Id, string CpuMask, long Busy, long Idle,
        int Active, int Timed, int Paused);

    /// <summary>Each thread reports itself on itself (its poller lists are its own), as SPDK's
    /// thread_get_stats walks the threads with spdk_for_each_thread.</summary>
    private static void GetThreadStats(RpcCall call, RpcParams args)
    {
        var all = new List<ThreadStats>();
        int rc = ThreadIteration.Start(() =>
        {
            LightweightThread t = LightweightThread.Current!;
            (int active, int timed, int paused) = t.PollerCounts();
            all.Add(new ThreadStats(t.Name, t.Index + 1, MaskOf(t), t.BusyTicks, t.IdleTicks, active, timed, paused));
        }, () => call.Result(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("tick_rate", Ticks.Hz);
            w.WriteStartArray("threads");
            foreach (ThreadStats s in all)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Name);
                w.WriteNumber("id", s.Id);
                w.WriteString("cpumask", s.CpuMask);
                w.WriteNumber("busy", s.Busy);
                w.WriteNumber("idle", s.Idle);
                w.WriteNumber("active_pollers_count", s.Active);
                w.WriteNumber("timed_pollers_count", s.Timed);
                w.WriteNumber("paused_pollers_count", s.Paused);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }));
        if (rc != 0)
        {
            call.Errno(rc);
        }
    }

    private static void WriteReactors(Utf8JsonWriter w)
    {
        LightweightThread[] threads = ThreadRegistry.Snapshot();
        w.WriteStartObject();
        w.WriteNumber("tick_rate", Ticks.Hz);
        w.WriteNumber("pid", Environment.ProcessId);
        w.WriteStartArray("reactors");
        foreach (ReactorLoop r in ReactorSet.Reactors)
        {
            long busy = 0, idle = 0;
            foreach (LightweightThread t in threads)
            {
                if (t.Reactor == r)
                {
                    busy += t.BusyTicks;
                    idle += t.IdleTicks;
                }
            }
            (long usr, long sys, long irq) = CpuTimes(r.OsThread);
            w.WriteStartObject();
            w.WriteNumber("lcore", r.Core);
            w.WriteNumber("tid", r.OsThread);
            w.WriteNumber("busy", busy);
            w.WriteNumber("idle", idle);
            w.WriteBoolean("in_interrupt", false);
            w.WriteNumber("irq", irq);
            w.WriteNumber("sys", sys);
            w.WriteNumber("usr", usr);
            w.WriteStartArray("lw_threads");
            foreach (LightweightThread t in threads)
            {
                if (t.Reactor == r)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteNumber("id", t.Index + 1);
                    w.WriteString("cpumask", MaskOf(t));
                    w.WriteNumber("elapsed", t.BusyTicks + t.IdleTicks);
                    w.WriteEndObject();
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>SPDK's cpumask string: hexadecimal, no 0x (every CPU for an unpinned thread).</summary>
    private static string MaskOf(LightweightThread t)
    {
        ReadOnlySpan<ulong> words = (t.CpuMask ?? CpuSet.Available()).Words;
        int top = words.Length - 1;
        while (top > 0 && words[top] == 0)
        {
            top--;
        }
        var s = new System.Text.StringBuilder(words[top].ToString("x", CultureInfo.InvariantCulture));
        for (int i = top - 1; i >= 0; i--)
        {
            s.Append(words[i].ToString("x16", CultureInfo.InvariantCulture));
        }
        return s.ToString();
    }

    /// <summary>utime, stime (clock ticks) from /proc/self/task/TID/stat; irq is not per thread
    /// on Linux, so 0. Zeros when the file cannot be read.</summary>
    private static (long Usr, long Sys, long Irq) CpuTimes(int tid)
    {
        try
        {
            string stat = System.IO.File.ReadAllText($"/proc/self/task/{tid}/stat");
            string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After the command: field 3 is state, so utime (14) and stime (15) are f[11], f[12].
            return (long.Parse(f[11], CultureInfo.InvariantCulture),
                long.Parse(f[12], CultureInfo.InvariantCulture), 0);
        }
        catch (Exception e) when (e is System.IO.IOException or FormatException or IndexOutOfRangeException
                                      or UnauthorizedAccessException)
        {
            return (0, 0, 0);
        }
    }
}
