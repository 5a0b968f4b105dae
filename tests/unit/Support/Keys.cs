namespace NativeBdev.Tests.Support;

/// <summary>NotInParallel keys. Every test that creates lightweight threads shares
/// <see cref="Threads"/>: while reactors run, new threads are placed on them, so a test that
/// polls threads itself must never overlap the reactor tests. CPU-heavy stress tests share it
/// too, so they do not starve the timing-sensitive poller tests on a 2-core machine.</summary>
internal static class Keys
{
    public const string Threads = "threads";
    public const string HugePages = "hugepages";
}
