using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Nexus;

/// <summary>What the state file said of one child when the nexus was made.</summary>
internal readonly record struct NexusChildRecord(string Uri, string Name, bool Healthy, NexusFaultReason Reason);

/// <summary>A nexus's child states kept in a file (nexus:///...&amp;state_file=PATH), for hosts
/// without a control plane that records the child events (Mayastor keeps them in etcd). The
/// rule that makes it worth having: a write is acknowledged only once every child that became
/// unhealthy before its completion is recorded as such, so after a crash the nexus made again
/// never reads from a child that missed an acknowledged write. The file is written by a thread
/// of its own (write to PATH.tmp, fsync, rename, fsync of the directory), never by a reactor;
/// the I/O path only compares two counters.</summary>
internal sealed class NexusStateFile
{
    public readonly string Path;
    private readonly Func<byte[]> _snapshot;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private long _requested;     // bumped for every state change
    private long _unhealthy;     // the request of the latest change that made a child unhealthy
    private long _persisted;     // the request the file on disk covers
    private volatile bool _stopped;
    private bool _failing;

    private NexusStateFile(string path, Func<byte[]> snapshot)
    {
        Path = path;
        _snapshot = snapshot;
    }

    /// <summary>A change the file must show before any write completing after it is acknowledged
    /// (a child faulted or out of sync): call under the nexus's lock, before the change is visible
    /// to the I/O path.</summary>
    public void ChildBecameUnhealthy() => Volatile.Write(ref _unhealthy, Interlocked.Increment(ref _requested));

    /// <summary>Any change: the file is rewritten soon.</summary>
    public void Changed()
    {
        Interlocked.Increment(ref _requested);
        _wake.Release();
    }

    /// <summary>0 when writes may be acknowledged now; else the request they must wait for.</summary>
    public long WritesMustWaitFor()
    {
        long need = Volatile.Read(ref _unhealthy);
        return Volatile.Read(ref _persisted) >= need ? 0 : need;
    }

    public bool Covers(long request) => Volatile.Read(ref _persisted) >= request;

    public void Stop()
    {
        _stopped = true;
        _wake.Release();
    }

    /// <summary>Reads PATH if it exists (null records when it does not); nothing is written until
    /// <see cref="Start"/>. -EINVAL for a file that is not a state file of nexus
    /// <paramref name="nexus"/>.</summary>
    public static int Open(string path, string nexus, Func<byte[]> snapshot, out NexusStateFile? file,
        out List<NexusChildRecord>? records)
    {
        file = null;
        records = null;
        if (string.IsNullOrEmpty(path) || path.IndexOf('\0') >= 0)
        {
            return LastError.Set(Errno.EINVAL, "state_file needs a path");
        }
        if (File.Exists(path))
        {
            int rc = Parse(path, nexus, out records);
            if (rc != 0)
            {
                return rc;
            }
        }
        else if (Directory.Exists(path))
        {
            return LastError.Set(Errno.EISDIR, $"state file '{path}' is a directory");
        }
        file = new NexusStateFile(path, snapshot);
        return 0;
    }

    /// <summary>Starts the writer, which writes the nexus's state at once. Called once the nexus
    /// is registered with the file's records applied: a writer started before would record the
    /// children as the URI made them (all healthy), and a nexus refused after would have
    /// overwritten the file it was refused for.</summary>
    public void Start()
    {
        Changed();
        var t = new Thread(Run) { IsBackground = true, Name = "nexus-state" };
        t.Start();
    }

    private static int Parse(string path, string nexus, out List<NexusChildRecord>? records)
    {
        records = null;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("nexus", out JsonElement n) ||
                n.ValueKind != JsonValueKind.String || !root.TryGetProperty("children", out JsonElement kids) ||
                kids.ValueKind != JsonValueKind.Array)
            {
                return LastError.Set(Errno.EINVAL, $"'{path}' is not a nexus state file");
            }
            if (n.GetString() != nexus)
            {
                return LastError.Set(Errno.EINVAL, $"state file '{path}' is nexus '{n.GetString()}'s, not '{nexus}'s");
            }
            var list = new List<NexusChildRecord>();
            foreach (JsonElement k in kids.EnumerateArray())
            {
                if (k.ValueKind != JsonValueKind.Object || !k.TryGetProperty("uri", out JsonElement uri) ||
                    uri.ValueKind != JsonValueKind.String || !k.TryGetProperty("healthy", out JsonElement h) ||
                    (h.ValueKind != JsonValueKind.True && h.ValueKind != JsonValueKind.False))
                {
                    return LastError.Set(Errno.EINVAL, $"state file '{path}': a child without uri and healthy");
                }
                string name = k.TryGetProperty("name", out JsonElement nm) && nm.ValueKind == JsonValueKind.String
                    ? nm.GetString()! : "";
                NexusFaultReason reason = NexusFaultReason.None;
                if (k.TryGetProperty("reason", out JsonElement r) && r.ValueKind == JsonValueKind.String)
                {
                    reason = NexusChild.ReasonFromName(r.GetString()!);
                }
                list.Add(new NexusChildRecord(uri.GetString()!, name, h.ValueKind == JsonValueKind.True, reason));
            }
            records = list;
            return 0;
        }
        catch (JsonException e)
        {
            return LastError.Set(Errno.EINVAL, $"state file '{path}' is not JSON: {e.Message}");
        }
        catch (InvalidOperationException)
        {
            // JsonDocument checks a string's UTF-8 only when it is read (found by fuzz_nexus_state).
            return LastError.Set(Errno.EINVAL, $"state file '{path}' has a string that is not valid UTF-8");
        }
        catch (IOException e)
        {
            return LastError.Set(Errno.EIO, $"state file '{path}': {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            return LastError.Set(Errno.EACCES, $"state file '{path}': {e.Message}");
        }
    }

    /// <summary>The state as the file holds it (the nexus's snapshot calls this under its lock).</summary>
    public static byte[] Format(string nexus, IEnumerable<NexusChild> children)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("nexus", nexus);
            w.WriteStartArray("children");
            foreach (NexusChild c in children)
            {
                if (c.State == NexusChildState.Closed)
                {
                    continue;
                }
                w.WriteStartObject();
                w.WriteString("uri", c.Uri);
                w.WriteString("name", c.Name);
                w.WriteString("state", NexusChild.StateName(c.State));
                w.WriteString("reason", NexusChild.ReasonName(c.Reason));
                w.WriteBoolean("synced", c.Synced);
                w.WriteBoolean("healthy", c.Healthy);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    private void Run()
    {
        while (true)
        {
            _wake.Wait();
            if (_stopped)
            {
                return;
            }
            long request = Volatile.Read(ref _requested);
            if (request == Volatile.Read(ref _persisted))
            {
                continue;
            }
            // The snapshot is taken after reading the request, so it shows that change and any
            // before it (a change bumps the request under the nexus's lock, then happens).
            int rc = Write(_snapshot());
            if (rc == 0)
            {
                Volatile.Write(ref _persisted, request);
                if (_failing)
                {
                    Log.Info($"nexus state file '{Path}' written again");
                    _failing = false;
                }
                continue;
            }
            // Writes stay unacknowledged while the file cannot say which child missed them:
            // held, not failed, and tried again.
            if (!_failing)
            {
                Log.Error($"nexus state file '{Path}' could not be written ({LastError.Message}): " +
                    "writes are held until it can");
                _failing = true;
            }
            Thread.Sleep(100);
            _wake.Release();
        }
    }

    private unsafe int Write(byte[] content)
    {
        string tmp = Path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                fs.Write(content);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, Path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return LastError.Set(Errno.EIO, e.Message);
        }
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path));
        if (dir != null)
        {
            byte[] d = System.Text.Encoding.UTF8.GetBytes(dir + "\0");
            fixed (byte* p = d)
            {
                int fd = Libc.open(p, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
                if (fd >= 0)
                {
                    int rc = Libc.fdatasync(fd);
                    Libc.close(fd);
                    if (rc != 0)
                    {
                        return LastError.Set(Errno.EIO, $"fsync of '{dir}' failed");
                    }
                }
            }
        }
        return 0;
    }
}
