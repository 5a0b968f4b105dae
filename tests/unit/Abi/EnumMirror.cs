namespace NativeBdev.Tests.Abi;

/// <summary>A C enum and the C# type whose members mirror its constants: a C# enum, or a class
/// whose const fields do. Constants pair up by name after <paramref name="Prefix"/> (see
/// <see cref="MirrorName"/>). <paramref name="ManagedOnly"/> names the C# members that have no C
/// constant on purpose (sentinels such as Invalid and Count); any other unpaired C# member fails,
/// so the C# side cannot grow a value the header does not have.</summary>
internal sealed record EnumMirror(string Native, Type Managed, string Prefix, string[] ManagedOnly,
    params (string Native, string Managed)[] Renames)
{
    public IEnumerable<string> Compare(IReadOnlyDictionary<string, Int128> constants)
    {
        string cs = Managed.Name;
        var names = ManagedLayout.ConstantNames(Managed).ToDictionary(MirrorName.Key);
        var paired = new HashSet<string>();
        foreach ((string c, Int128 value) in constants)
        {
            string key = MirrorName.Key(c, Prefix, Renames);
            if (!names.TryGetValue(key, out string? member))
            {
                yield return $"enum {Native} {c}: no C# member in {cs} (looked for '{key}', case-insensitive)";
                continue;
            }
            paired.Add(member);
            Int128 mine = (Int128)ManagedLayout.Constant(Managed, member)!;
            if (mine != value)
            {
                yield return $"enum {Native} {c}: value C {value}, C# {cs}.{member} {mine}";
            }
        }
        foreach (string member in names.Values.Where(m => !paired.Contains(m)))
        {
            if (!ManagedOnly.Contains(member))
            {
                yield return $"enum {Native}: C# {cs}.{member} has no C constant (nor is it listed as C#-only)";
            }
        }
        foreach (string member in ManagedOnly.Where(m => !names.ContainsValue(m)))
        {
            yield return $"enum {Native}: C#-only member {cs}.{member} does not exist (stale list)";
        }
    }
}
