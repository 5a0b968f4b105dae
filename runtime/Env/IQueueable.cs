namespace NativeBdev.Env;

/// <summary>An element of an <see cref="IntrusiveQueue{T}"/>: where its link and the name of
/// the queue holding it live inside it.</summary>
internal unsafe interface IQueueable<T> where T : unmanaged, IQueueable<T>
{
    static abstract T** Link(T* item);
    static abstract byte* QueueName(T* item);
}
