namespace NativeBdev.Nvme;

/// <summary>Where a queue hands its completions: the command id and the request the
/// command was submitted for.</summary>
internal unsafe interface INvmeCompletionSink
{
    void Completed(ushort cid, void* request, in NvmeCompletion cpl);
}
