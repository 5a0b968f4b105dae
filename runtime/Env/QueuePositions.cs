using System.Runtime.InteropServices;

namespace NativeBdev.Env;

/// <summary>Producer and consumer positions of an <see cref="MpmcQueue{T}"/> on their own cache
/// lines so they don't false-share. (Outside the generic class: explicit layout is not allowed
/// in generics.)</summary>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct QueuePositions
{
    [FieldOffset(64)] public long Enqueue;
    [FieldOffset(128)] public long Dequeue;
}
