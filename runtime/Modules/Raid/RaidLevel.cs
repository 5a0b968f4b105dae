namespace NativeBdev.Modules.Raid;

/// <summary>The levels built here, with SPDK's names ("raid0", "concat").</summary>
internal enum RaidLevel
{
    Raid0,
    Concat,
}
