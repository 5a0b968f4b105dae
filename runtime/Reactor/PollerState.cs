namespace NativeBdev.Reactor;

/// <summary>A poller runs while Running, is skipped while Paused, and is gone once Unregistered.</summary>
internal enum PollerState
{
    Running,
    Paused,
    Unregistered,
}
