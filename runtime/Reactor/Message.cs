namespace NativeBdev.Reactor;

/// <summary>One entry of a thread's message ring: either a C function
/// <c>void fn(void *arg)</c> or a managed static function with a context object. A struct
/// of three words plus a reference, so sending a message allocates nothing.</summary>
internal unsafe struct Message
{
    public nint Function;
    public nint Argument;
    public object? Context;
    public bool IsManaged;

    public static Message Native(delegate* unmanaged[Cdecl]<void*, void> fn, void* arg) =>
        new() { Function = (nint)fn, Argument = (nint)arg };

    public static Message Managed(delegate*<object?, nint, void> fn, object? context, nint arg = 0) =>
        new() { Function = (nint)fn, Argument = arg, Context = context, IsManaged = true };

    public readonly void Invoke()
    {
        if (IsManaged)
        {
            ((delegate*<object?, nint, void>)Function)(Context, Argument);
        }
        else
        {
            ((delegate* unmanaged[Cdecl]<void*, void>)Function)((void*)Argument);
        }
    }
}
