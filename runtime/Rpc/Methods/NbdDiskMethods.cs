using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Nbd.Kernel;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>SPDK's nbd_start_disk, nbd_stop_disk and nbd_get_disks: a bdev as the kernel's
/// /dev/nbdX (<see cref="NbdDisk"/>), with SPDK's parameters, replies and error codes.</summary>
internal static class NbdDiskMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("nbd_start_disk",
            [Req("bdev_name", RpcParamKind.String), Opt("nbd_device", RpcParamKind.String)],
            (call, args) => StartDisk(call, args.String("bdev_name")!, args.String("nbd_device"))));
        server.Register(new RpcMethod("nbd_stop_disk", [Opt("nbd_device", RpcParamKind.String)],
            (call, args) => StopDisk(call, args.String("nbd_device"))));
        server.Register(new RpcMethod("nbd_get_disks", [Opt("nbd_device", RpcParamKind.String)],
            (call, args) => GetDisks(call, args.String("nbd_device"))));
    }

    /// <summary>The core's nb_nbd_disk_start (<see cref="NbdDisks.StartDisk"/>), with SPDK's
    /// messages for a device path that is none and for no free device. The reply is the
    /// device's path.</summary>
    private static void StartDisk(RpcCall call, string bdevName, string? device)
    {
        int rc = NbdDisks.StartDisk(bdevName, device, (status, path) =>
        {
            if (status != 0)
            {
                Fail(call, status);
                return;
            }
            call.Result(path);
        });
        if (rc == 0)
        {
            return;
        }
        Log.Info($"rpc: nbd_start_disk: {LastError.Message}");
        if (rc == -Errno.ENODEV && device != null && NbdDisks.Index(device) < 0)
        {
            call.Error(-Errno.ENODEV, $"illegal nbd device {device}");
        }
        else if (rc == -Errno.ENODEV && device == null && NbdDisks.FindFree(0, out _) == null)
        {
            call.Error(-Errno.ENODEV, "nbd device not found");
        }
        else
        {
            call.Errno(rc);
        }
    }

    private static void Fail(RpcCall call, int rc)
    {
        Log.Info($"rpc: {call.Method}: {LastError.Message}");
        call.Errno(rc);
    }

    private static void StopDisk(RpcCall call, string? device)
    {
        if (device == null)
        {
            call.Error(-Errno.ENODEV, "invalid nbd device");
            return;
        }
        if (NbdDisks.Find(device) is not { } disk)
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        disk.Stop(() => call.Result(true));
    }

    private static void GetDisks(RpcCall call, string? device)
    {
        NbdDisk[] disks;
        if (device != null)
        {
            if (NbdDisks.Find(device) is not { } one)
            {
                call.Errno(-Errno.ENODEV);
                return;
            }
            disks = [one];
        }
        else
        {
            disks = NbdDisks.Snapshot();
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            foreach (NbdDisk d in disks)
            {
                w.WriteStartObject();
                w.WriteString("nbd_device", d.Path);
                w.WriteString("bdev_name", d.BdevName);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }
}
