namespace NativeBdev.Nvme;

/// <summary>Where a queue hands its completions: the command id and the request the
/// command was submitted for. A class, not an interface: one completion per I/O is a plain
/// virtual call, not an interface dispatch.</summary>
internal abstract unsafe class NvmeCompletionSink
{
    public abstract void Completed(ushort cid, void* request, in NvmeCompletion cpl);
}
