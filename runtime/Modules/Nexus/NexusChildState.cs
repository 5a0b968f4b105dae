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
