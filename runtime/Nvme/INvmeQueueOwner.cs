namespace NativeBdev.Nvme;

/// <summary>What an I/O queue's owner (a queue pair, on its own thread) does when the
/// controller resets: reclaim the commands the disabled controller will never complete.</summary>
internal interface INvmeQueueOwner
{
    NvmeTransportQueue Queue { get; }
    /// <summary>Set by the admin poll once the queue exists on the controller.</summary>
    bool Connected { get; set; }
    /// <summary>The reset generation the owner has reclaimed its commands for, or
    /// int.MaxValue once it is gone (a reset never waits for it).</summary>
    int AckedGeneration { get; }
}
