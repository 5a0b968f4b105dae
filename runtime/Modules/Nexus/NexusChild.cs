using System;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;

namespace NativeBdev.Modules.Nexus;

/// <summary>One replica of a nexus: the bdev it was made from (by URI, or an existing bdev by
/// name), the nexus's descriptor on it, and its state. State, reason and sync are written under
/// the nexus's lock and read without it by the I/O path (one volatile read per decision):
/// a child stops taking reads the moment it is faulted, on every thread, before any channel has
/// detached it.</summary>
internal sealed unsafe class NexusChild : IDisposable
{
    public readonly int Index;
    public readonly string Name;
    public readonly string Uri;
    public readonly bool CreatedByNexus;
    public Bdev.Bdev Bdev { get; internal set; }
    public BdevDesc? Desc { get; internal set; }
    private volatile int _state;
    private volatile int _reason;
    private volatile int _synced;
    /// <summary>The nexus's write-log epoch when the child was faulted while synced: a partial
    /// rebuild is possible while the epoch is still current. -1: a full rebuild is needed.</summary>
    internal int LogEpoch = -1;
    internal NexusRebuild? Rebuild;
    /// <summary>What a rebuild stopped by the administrator left to copy: a rebuild started again
    /// copies only this (the child has taken every write meanwhile). Null: a full rebuild.</summary>
    internal ulong[]? ResumeMap;
    private byte* _nameUtf8;

    public NexusChild(int index, string name, string uri, bool createdByNexus, Bdev.Bdev bdev)
    {
        Index = index;
        Name = name;
        Uri = uri;
        CreatedByNexus = createdByNexus;
        Bdev = bdev;
        _state = (int)NexusChildState.Init;
        _synced = 1;
    }

    public NexusChildState State
    {
        get => (NexusChildState)_state;
        internal set => _state = (int)value;
    }

    public NexusFaultReason Reason
    {
        get => (NexusFaultReason)_reason;
        internal set => _reason = (int)value;
    }

    /// <summary>Synced: holds every acknowledged write. An out-of-sync child (being rebuilt)
    /// takes writes, not reads.</summary>
    public bool Synced
    {
        get => _synced != 0;
        internal set => _synced = value ? 1 : 0;
    }

    /// <summary>May serve reads: open and synced.</summary>
    public bool Healthy => _state == (int)NexusChildState.Open && _synced != 0;

    /// <summary>The name as the C event callback receives it (made once).</summary>
    public byte* NameUtf8
    {
        get
        {
            if (_nameUtf8 == null)
            {
                _nameUtf8 = (byte*)Marshal.StringToCoTaskMemUTF8(Name);
            }
            return _nameUtf8;
        }
    }

    public static string StateName(NexusChildState s) => s switch
    {
        NexusChildState.Init => "init",
        NexusChildState.Open => "open",
        NexusChildState.Closed => "closed",
        _ => "faulted",
    };

    public static string ReasonName(NexusFaultReason r) => r switch
    {
        NexusFaultReason.CantOpen => "cant_open",
        NexusFaultReason.NoSpace => "no_space",
        NexusFaultReason.TimedOut => "timed_out",
        NexusFaultReason.IoError => "io_error",
        NexusFaultReason.RebuildFailed => "rebuild_failed",
        NexusFaultReason.AdminFailed => "admin_failed",
        NexusFaultReason.Offline => "offline",
        _ => "none",
    };

    public static NexusFaultReason ReasonFromName(string name) => name switch
    {
        "cant_open" => NexusFaultReason.CantOpen,
        "no_space" => NexusFaultReason.NoSpace,
        "timed_out" => NexusFaultReason.TimedOut,
        "io_error" => NexusFaultReason.IoError,
        "rebuild_failed" => NexusFaultReason.RebuildFailed,
        "admin_failed" => NexusFaultReason.AdminFailed,
        "offline" => NexusFaultReason.Offline,
        _ => NexusFaultReason.None,
    };

    public override string ToString() =>
        $"{Name} {StateName(State)}{(State == NexusChildState.Faulted ? "(" + ReasonName(Reason) + ")" : "")} " +
        (Synced ? "synced" : "out-of-sync");

    public void Dispose()
    {
        if (_nameUtf8 != null)
        {
            Marshal.FreeCoTaskMem((nint)_nameUtf8);
            _nameUtf8 = null;
        }
    }
}
