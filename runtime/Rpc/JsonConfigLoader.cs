using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Rpc;

/// <summary>Loads an SPDK JSON config (<c>{"subsystems":[{"subsystem":S,"config":[{"method":M,
/// "params":{...}}]}]}</c>) by calling each entry's method, one at a time, on the calling
/// thread, as spdk_subsystem_load_config does at start-up; completion is reported through a
/// callback and the thread is never blocked.
///
/// Subsystems load in SPDK's dependency order whatever their order in the file. An entry
/// that builds over a bdev that does not exist yet (SPDK lists a passthru before its base, and
/// waits for the base by examine) is retried after each later entry of the subsystem
/// succeeds. SPDK's tuning methods that have no counterpart here are accepted and named in
/// the log. A config that fails stops at that entry and names it, and everything the load
/// made (bdevs, crypto keys) is destroyed again before the callback runs.</summary>
internal sealed unsafe class JsonConfigLoader
{
    /// <summary>SPDK v25.09's subsystems in the order their dependencies impose.</summary>
    private static readonly string[] s_order =
        ["keyring", "iobuf", "sock", "vmd", "accel", "bdev", "nbd", "scheduler", "nvmf", "scsi", "iscsi", "ublk"];

    /// <summary>SPDK settings of pools, sockets and schedulers that this runtime sizes or
    /// chooses itself: accepted so that a config SPDK saved loads, and logged.</summary>
    private static readonly HashSet<string> s_noCounterpart =
    [
        "iobuf_set_options", "sock_set_default_impl", "sock_impl_set_options", "accel_set_options",
        "bdev_set_options", "bdev_nvme_set_options", "bdev_nvme_set_hotplug", "bdev_raid_set_options",
        "framework_set_scheduler", "nvmf_set_config", "nvmf_set_max_subsystems", "nvmf_set_crdt",
        "iscsi_set_options", "bdev_iscsi_set_options", "ublk_create_target",
    ];

    /// <summary>Examine is synchronous here: once the entries before it are done, so is it.</summary>
    private const string WaitForExamine = "bdev_wait_for_examine";

    private readonly record struct Entry(string Subsystem, int Index, string Method, string Request);

    private readonly RpcServer _server;
    private readonly LightweightThread _thread;
    private readonly List<Entry> _entries;
    private readonly Action<int, string?> _done;
    private readonly HashSet<string> _bdevsBefore;
    private readonly HashSet<string> _keysBefore;
    /// <summary>Entries answered -ENODEV, each with that answer (the error if no base comes).</summary>
    private readonly List<(Entry Entry, string Message)> _waitingForBase = new();
    private Poller? _poller;
    private Entry _current;
    private int _next;
    private int _retry = -1;     // index into _waitingForBase being retried, -1: none
    private bool _inFlight;
    private byte[]? _reply;
    private bool _replied;
    private int _failure;
    private string? _failureMessage;
    private int _undoLeft = -1;  // bdev destructions still running, -1: not undoing

    private JsonConfigLoader(RpcServer server, LightweightThread thread, List<Entry> entries,
        Action<int, string?> done)
    {
        _server = server;
        _thread = thread;
        _entries = entries;
        _done = done;
        _bdevsBefore = new HashSet<string>(StringComparer.Ordinal);
        foreach (Bdev.Bdev b in BdevRegistry.Snapshot())
        {
            _bdevsBefore.Add(b.Name);
        }
        _keysBefore = new HashSet<string>(StringComparer.Ordinal);
        foreach (CryptoKeyInfo k in CryptoKeyRegistry.Snapshot())
        {
            _keysBefore.Add(k.Name);
        }
    }

    /// <summary>Starts loading <paramref name="json"/> with <paramref name="server"/>'s methods
    /// on the current thread. 0: <paramref name="done"/> runs later on this thread with 0 or
    /// -errno and, on failure, the message naming the entry. A file that is not a config fails
    /// here with -EINVAL and nothing runs.</summary>
    public static int Start(RpcServer server, ReadOnlySpan<byte> json, Action<int, string?> done)
    {
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL, "no current thread: a config is loaded on a thread");
        }
        int rc = Parse(json, out List<Entry>? entries);
        if (rc != 0)
        {
            return rc;
        }
        var loader = new JsonConfigLoader(server, thread, entries!, done);
        rc = thread.RegisterPoller("config_load", 0, (nint)(delegate*<object?, int>)&PollThunk, 0, loader,
            managed: true, out loader._poller);
        return rc;
    }

    /// <summary>The entries in load order, each as a JSON-RPC request; -EINVAL naming what is
    /// wrong with the file's shape.</summary>
    private static int Parse(ReadOnlySpan<byte> json, out List<Entry>? entries)
    {
        entries = null;
        // JsonDocument leaves strings' UTF-8 to be checked when they are read: check it all now.
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            return LastError.Set(Errno.EINVAL, "config: not UTF-8 text");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            return LastError.Set(Errno.EINVAL, $"config: not JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object ||
                !doc.RootElement.TryGetProperty("subsystems", out JsonElement subsystems) ||
                subsystems.ValueKind != JsonValueKind.Array)
            {
                return LastError.Set(Errno.EINVAL, "config: no \"subsystems\" array at the top level");
            }
            var bySubsystem = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            int i = 0;
            foreach (JsonElement s in subsystems.EnumerateArray())
            {
                if (s.ValueKind != JsonValueKind.Object || !s.TryGetProperty("subsystem", out JsonElement name) ||
                    name.ValueKind != JsonValueKind.String)
                {
                    return LastError.Set(Errno.EINVAL, $"config: subsystems[{i}] has no \"subsystem\" name");
                }
                string n = name.GetString()!;
                if (Array.IndexOf(s_order, n) < 0)
                {
                    return LastError.Set(Errno.EINVAL, $"config: subsystem '{n}' is not one SPDK or NativeBdev has");
                }
                if (!bySubsystem.TryAdd(n, s.TryGetProperty("config", out JsonElement c) ? c.Clone() : default))
                {
                    return LastError.Set(Errno.EINVAL, $"config: subsystem '{n}' is given twice");
                }
                i++;
            }
            entries = new List<Entry>();
            foreach (string n in s_order)
            {
                if (!bySubsystem.TryGetValue(n, out JsonElement config) ||
                    config.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
                {
                    continue;
                }
                if (config.ValueKind != JsonValueKind.Array)
                {
                    return LastError.Set(Errno.EINVAL, $"config: subsystem '{n}': \"config\" is not an array");
                }
                int k = 0;
                foreach (JsonElement e in config.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("method", out JsonElement m) ||
                        m.ValueKind != JsonValueKind.String)
                    {
                        return LastError.Set(Errno.EINVAL, $"config: subsystem '{n}' entry {k} has no \"method\"");
                    }
                    string request = "{\"jsonrpc\":\"2.0\",\"id\":" + k.ToString(CultureInfo.InvariantCulture) +
                        ",\"method\":" + m.GetRawText() +
                        (e.TryGetProperty("params", out JsonElement p) ? ",\"params\":" + p.GetRawText() : "") + "}";
                    entries.Add(new Entry(n, k, m.GetString()!, request));
                    k++;
                }
            }
            return 0;
        }
    }

    private static int PollThunk(object? o) => ((JsonConfigLoader)o!).Poll();

    private int Poll()
    {
        _server.Poll();
        if (_undoLeft >= 0)
        {
            return _undoLeft == 0 ? Finish() : 0;
        }
        if (_inFlight)
        {
            if (!_replied)
            {
                return 0;
            }
            _inFlight = false;
            Completed();
            return 1;
        }
        if (_failure != 0)
        {
            Undo();
            return 1;
        }
        // Bdevs that waited for a base go first after each success: the base may be there now.
        if (_retry >= 0 && _retry < _waitingForBase.Count)
        {
            Issue(_waitingForBase[_retry].Entry);
            return 1;
        }
        _retry = -1;
        if (_next < _entries.Count && _waitingForBase.Count > 0 && _entries[_next].Subsystem !=
            _waitingForBase[0].Entry.Subsystem)
        {
            Fail(_waitingForBase[0].Entry, _waitingForBase[0].Message);
            return 1;
        }
        if (_next >= _entries.Count)
        {
            if (_waitingForBase.Count > 0)
            {
                Fail(_waitingForBase[0].Entry, _waitingForBase[0].Message);
                return 1;
            }
            return Finish();
        }
        Entry e = _entries[_next++];
        if (s_noCounterpart.Contains(e.Method) || e.Method == WaitForExamine)
        {
            if (e.Method != WaitForExamine)
            {
                Log.Info($"config: {e.Subsystem}[{e.Index}] {e.Method}: no counterpart here, ignored");
            }
            return 1;
        }
        Issue(e);
        return 1;
    }

    private void Issue(Entry e)
    {
        _current = e;
        _inFlight = true;
        _replied = false;
        _reply = null;
        LastError.Clear(); // what the handler leaves there is this entry's detail
        using JsonDocument doc = JsonDocument.Parse(e.Request);
        _server.Execute(doc.RootElement, bytes =>
        {
            _reply = bytes;
            _replied = true;
        });
    }

    private void Completed()
    {
        Entry e = _current;
        bool retried = _retry >= 0;
        if (_reply == null)
        {
            Fail(e, "no reply");
            return;
        }
        using JsonDocument doc = JsonDocument.Parse(_reply);
        if (!doc.RootElement.TryGetProperty("error", out JsonElement error))
        {
            if (retried)
            {
                _waitingForBase.RemoveAt(_retry);
                _retry = 0; // another waiting entry may stand on this one
            }
            else
            {
                _retry = _waitingForBase.Count > 0 ? 0 : -1;
            }
            return;
        }
        int code = error.GetProperty("code").GetInt32();
        string message = $"{error.GetProperty("message").GetString()} ({code})";
        if (code == -Errno.ENODEV)
        {
            if (retried)
            {
                _retry++;
            }
            else
            {
                // The base may come later in the file: SPDK waits for it by examine.
                _waitingForBase.Add((e, message));
            }
            return;
        }
        Fail(e, message);
    }

    private void Fail(Entry e, string message)
    {
        _failure = -Errno.EINVAL;
        string detail = LastError.Message is { Length: > 0 } m && !message.Contains(m, StringComparison.Ordinal)
            ? $": {m}" : "";
        _failureMessage = $"config: subsystem '{e.Subsystem}' entry {e.Index} ({e.Method}) failed: {message}{detail}";
        Log.Error(_failureMessage);
    }

    /// <summary>Destroys what the load made, newest first; keys after the bdevs that use them.</summary>
    private void Undo()
    {
        var made = new List<string>();
        foreach (Bdev.Bdev b in BdevRegistry.Snapshot())
        {
            if (!_bdevsBefore.Contains(b.Name))
            {
                made.Add(b.Name);
            }
        }
        made.Reverse();
        _undoLeft = made.Count;
        foreach (string name in made)
        {
            // A vbdev may already be going with its base: -ENODEV then is fine.
            if (BdevRegistry.Destroy(name, _ => _undoLeft--) != 0)
            {
                _undoLeft--;
            }
        }
    }

    private int Finish()
    {
        if (_failure != 0)
        {
            foreach (CryptoKeyInfo k in CryptoKeyRegistry.Snapshot())
            {
                if (!_keysBefore.Contains(k.Name))
                {
                    CryptoKeyRegistry.Destroy(k.Name);
                }
            }
        }
        _thread.UnregisterPoller(_poller!);
        if (_failure != 0)
        {
            LastError.Set(-_failure, _failureMessage!);
        }
        _done(_failure, _failureMessage);
        return 1;
    }
}
