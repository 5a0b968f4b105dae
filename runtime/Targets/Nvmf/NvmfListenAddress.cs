namespace NativeBdev.Targets.Nvmf;

/// <summary>A listen address of a subsystem, as discovery log entries report it.</summary>
internal sealed record NvmfListenAddress(string Family, string Address, string Service)
{
    public string Key => $"{Address}:{Service}";
}
