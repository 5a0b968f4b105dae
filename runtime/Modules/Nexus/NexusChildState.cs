using System;

namespace NativeBdev.Modules.Nexus;

/// <summary>A child's state, as Mayastor's ChildState (numbered as the header's
/// enum nb_nexus_child_state): Init before its bdev is opened, Open while it takes I/O,
/// Closed once removed, Faulted with a <see cref="NexusFaultReason"/>.</summary>
internal enum NexusChildState
{
    Init = 0,
    Open = 1,
    Closed = 2,
    Faulted = 3,
}

/// <summary>Why a child is faulted, as Mayastor's FaultReason (enum nb_nexus_fault_reason).</summary>
internal enum NexusFaultReason
{
    None = 0,
    CantOpen = 1,
    NoSpace = 2,
    TimedOut = 3,
    IoError = 4,
    RebuildFailed = 5,
    AdminFailed = 6,
    Offline = 7,
}

/// <summary>A rebuild job's state, as Mayastor's RebuildState (enum nb_nexus_rebuild_state).</summary>
internal enum NexusRebuildState
{
    Init = 0,
    Running = 1,
    Paused = 2,
    Stopped = 3,
    Failed = 4,
    Completed = 5,
}

/// <summary>One ended rebuild in a nexus's history (Mayastor's RebuildHistoryRecord): the child
/// and the child it copied from, how it ended, what it copied, when.</summary>
internal sealed record NexusRebuildRecord(
    string Child,
    string ChildUri,
    string? Source,
    string? SourceName,
    NexusRebuildState State,
    bool Partial,
    ulong BlocksTotal,
    ulong BlocksCopied,
    uint BlockSize,
    ulong SegmentBlocks,
    DateTime Start,
    DateTime End)
{
    public static string StateName(NexusRebuildState s) => s switch
    {
        NexusRebuildState.Init => "init",
        NexusRebuildState.Running => "running",
        NexusRebuildState.Paused => "paused",
        NexusRebuildState.Stopped => "stopped",
        NexusRebuildState.Failed => "failed",
        _ => "completed",
    };
}
