namespace NativeBdev.Reactor;

/// <summary>A lightweight thread's life: running, exiting (draining what it still has), exited.</summary>
internal enum ThreadState
{
    Running,
    Exiting,
    Exited,
}
