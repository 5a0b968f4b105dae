using System;
using System.IO;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Rpc;

/// <summary>Config files on disk: what nb_config_load/save, the daemon's -c and bdevperf's
/// -c call. Loading on the RPC server's thread uses its method table (the one rpc.py reaches),
/// elsewhere a table of the core methods of its own.</summary>
internal static class ConfigFile
{
    /// <summary>A config is small; a file past this is not one.</summary>
    private const long MaxBytes = 64L << 20;

    public static int Load(string path, Action<int>? done)
    {
        byte[] json;
        int rc = Read(path, out json);
        if (rc != 0)
        {
            return rc;
        }
        // The running server's table when the load runs on its thread (its deferred work is
        // that thread's), else a table of this load's own.
        RpcSocketServer? running = RpcService.Current;
        RpcServer server = running != null && running.Thread.IsCurrent ? running.Methods : RpcServer.WithCoreMethods();
        return JsonConfigLoader.Start(server, json, (status, _) => done?.Invoke(status));
    }

    private static int Read(string path, out byte[] json)
    {
        json = [];
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return LastError.Set(Errno.ENOENT, $"config file '{path}' does not exist");
            }
            if (info.Length > MaxBytes)
            {
                return LastError.Set(Errno.EFBIG, $"config file '{path}' is {info.Length} bytes; at most {MaxBytes}");
            }
            json = File.ReadAllBytes(path);
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return LastError.Set(e is UnauthorizedAccessException ? Errno.EACCES : Errno.EIO,
                $"config file '{path}': {e.Message}");
        }
    }

    /// <summary>Writes PATH.tmp-PID and renames it over PATH.</summary>
    public static int Save(string path)
    {
        string tmp = $"{path}.tmp-{Environment.ProcessId}";
        try
        {
            File.WriteAllBytes(tmp, ConfigSubsystems.Save());
            File.Move(tmp, path, overwrite: true);
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(tmp);
            }
            catch (Exception e2) when (e2 is IOException or UnauthorizedAccessException)
            {
                Log.Warn($"config: could not remove {tmp}: {e2.Message}");
            }
            return LastError.Set(e is UnauthorizedAccessException ? Errno.EACCES : Errno.EIO,
                $"config file '{path}': {e.Message}");
        }
    }
}
