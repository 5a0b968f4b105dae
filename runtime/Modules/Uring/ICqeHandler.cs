namespace NativeBdev.Modules.Uring;

/// <summary>What a ring's owner does with one completion (a struct, so Reap is
/// specialised per owner and the call is direct).</summary>
internal interface ICqeHandler
{
    void Handle(ulong userData, int res);
}
