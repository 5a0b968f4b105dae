using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Rpc.Methods;

/// <summary>What every bdev create and delete method does once it has its parameters: call
/// the core's factory with the URI the C ABI would get, or destroy a bdev of the method's own
/// module, and reply as SPDK's handlers do.</summary>
internal static class BdevRpc
{
    /// <summary>Creates the bdev <paramref name="uri"/> names and replies with its name
    /// (SPDK's create methods answer the name), or with the factory's errno.</summary>
    public static void Create(RpcCall call, string uri) => Create(call, uri, created => call.Result(created));

    /// <summary>Creates the bdev <paramref name="uri"/> names and replies with
    /// <paramref name="reply"/> of its name (every namespace's, comma-separated), or with the
    /// factory's errno. A creation that waits on a device or the network runs off the server's
    /// thread (<see cref="BdevCreation"/>) and the reply follows when it ends; meanwhile the
    /// server answers other requests.</summary>
    public static void Create(RpcCall call, string uri, Action<string> reply)
    {
        void Finish(int rc, string? created)
        {
            if (rc != 0)
            {
                Log.Info($"rpc: {call.Method}: {LastError.Message}");
                call.Errno(rc);
                return;
            }
            reply(created!);
        }
        if (LightweightThread.Current != null && BdevCreation.Waits(uri))
        {
            BdevCreation.Start(uri, Finish);
            return;
        }
        int rc = BdevFactory.Create(uri, out string? created);
        Finish(rc, created);
    }

    /// <summary>Destroys <paramref name="name"/> if it is a bdev of <paramref name="module"/>
    /// (SPDK answers -ENODEV for a bdev of another module) and replies true once it is gone.</summary>
    public static void Delete(RpcCall call, string name, string module) =>
        Delete(call, name, b => b.ModuleName == module);

    /// <summary>Destroys <paramref name="name"/> if <paramref name="ours"/> says it is one of the
    /// method's, else -ENODEV; replies true once the removal has finished.</summary>
    public static void Delete(RpcCall call, string name, Func<Bdev.Bdev, bool> ours)
    {
        if (BdevRegistry.Find(name) is not { } b || !ours(b))
        {
            call.Errno(-Errno.ENODEV);
            return;
        }
        int rc = BdevRegistry.Destroy(name, status =>
        {
            if (status == 0)
            {
                call.Result(true);
            }
            else
            {
                call.Errno(status < 0 ? status : -status);
            }
        });
        if (rc != 0)
        {
            call.Errno(rc);
        }
    }

    /// <summary>The reply of a call that answers true or an errno (the core's message logged).</summary>
    public static void Status(RpcCall call, int rc)
    {
        if (rc != 0)
        {
            Log.Info($"rpc: {call.Method}: {LastError.Message}");
            call.Errno(rc);
            return;
        }
        call.Result(true);
    }

    /// <summary>The completion of one of <paramref name="count"/> operations a call waits for:
    /// once all have called it, the reply is true, or the first failure's errno.</summary>
    public static Action<int> AfterAll(RpcCall call, int count)
    {
        int left = count, failed = 0;
        return status =>
        {
            failed = failed != 0 ? failed : status;
            if (--left == 0)
            {
                if (failed != 0)
                {
                    call.Errno(failed < 0 ? failed : -failed);
                }
                else
                {
                    call.Result(true);
                }
            }
        };
    }

    /// <summary>A URI's query value.</summary>
    public static string Q(string value) => Uri.EscapeDataString(value);
}
