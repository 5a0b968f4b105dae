using NativeBdev.Env;

namespace NativeBdev.Targets.Nvmf;

/// <summary>A FIFO of a connection's requests linked through <see cref="NvmfRequest.Next"/>
/// (what to send, what waits for a bdev_io). A request is on one queue at a time: push
/// asserts it is on none.</summary>
internal unsafe struct NvmfRequestQueue
{
    private int _head;
    private int _tail;

    public NvmfRequestQueue()
    {
        _head = -1;
        _tail = -1;
    }

    public readonly bool IsEmpty => _head < 0;

    /// <summary>The first request's index, -1 when empty (to walk the queue without taking).</summary>
    public readonly int Head => _head;

    public void Push(NvmfBuffers b, NvmfRequest* r)
    {
        Invariant.Assert(r->Queued == 0, "an NVMe/TCP request pushed onto a second queue");
        r->Queued = 1;
        r->Next = -1;
        if (_tail < 0)
        {
            _head = r->Index;
        }
        else
        {
            b.Slot(_tail)->Next = r->Index;
        }
        _tail = r->Index;
    }

    public NvmfRequest* Pop(NvmfBuffers b)
    {
        Invariant.Assert(_head >= 0, "pop of an empty NVMe/TCP request queue");
        NvmfRequest* r = b.Slot(_head);
        _head = r->Next;
        if (_head < 0)
        {
            _tail = -1;
        }
        r->Queued = 0;
        r->Next = -1;
        return r;
    }
}
