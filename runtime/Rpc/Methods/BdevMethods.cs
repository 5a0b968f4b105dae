using System;
using System.Diagnostics;
using NativeBdev.Bdev;
using NativeBdev.Interop;
using static NativeBdev.Rpc.RpcParam;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Rpc.Methods;

/// <summary>bdev_get_bdevs: every bdev, or the one named (by name or UUID); with a timeout
/// (milliseconds) the call waits that long for the bdev to appear, without blocking the
/// thread, then fails with -ENODEV as SPDK does.</summary>
internal static class BdevMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("bdev_get_bdevs",
            [Opt("name", RpcParamKind.String), Opt("timeout", RpcParamKind.UInt64)],
            (call, args) => GetBdevs(server, call, args)));
    }

    private static void GetBdevs(RpcServer server, RpcCall call, RpcParams args)
    {
        string? name = args.String("name");
        if (name == null)
        {
            call.Result(w =>
            {
                w.WriteStartArray();
                foreach (BlockDevice b in BdevRegistry.Snapshot())
                {
                    BdevInfo.Write(w, b);
                }
                w.WriteEndArray();
            });
            return;
        }
        ulong timeoutMs = args.UInt64("timeout");
        // Stopwatch, not TickCount64: the latter is the coarse clock (4 ms steps) and would
        // answer a few milliseconds before the timeout the caller gave.
        long deadline = Stopwatch.GetTimestamp() +
            (long)Math.Min(timeoutMs, (ulong)int.MaxValue) * Stopwatch.Frequency / 1000;
        server.Defer(() =>
        {
            BlockDevice? b = Lookup(name);
            if (b != null)
            {
                call.Result(w =>
                {
                    w.WriteStartArray();
                    BdevInfo.Write(w, b);
                    w.WriteEndArray();
                });
                return true;
            }
            if (Stopwatch.GetTimestamp() >= deadline)
            {
                call.Errno(-Errno.ENODEV);
                return true;
            }
            return false;
        });
    }

    /// <summary>A live bdev by name, or by its UUID (SPDK's bdev alias lookup).</summary>
    private static BlockDevice? Lookup(string name)
    {
        if (BdevRegistry.Find(name) is { Removing: false } b)
        {
            return b;
        }
        if (!Guid.TryParse(name, out Guid uuid))
        {
            return null;
        }
        foreach (BlockDevice d in BdevRegistry.Snapshot())
        {
            if (d.Uuid == uuid && !d.Removing)
            {
                return d;
            }
        }
        return null;
    }
}
