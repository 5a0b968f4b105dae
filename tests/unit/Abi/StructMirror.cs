namespace NativeBdev.Tests.Abi;

/// <summary>A C struct and the C# struct that mirrors it. Fields pair up by name (see
/// <see cref="MirrorName"/>; <paramref name="Renames"/> lists the pairs whose names differ).
/// Pairing by name, not by position, is what catches two fields of one type swapped.</summary>
internal sealed record StructMirror(string Native, Type Managed, string Prefix = "",
    params (string Native, string Managed)[] Renames)
{
    /// <summary>Every disagreement between the C layout and the C# one, each naming the struct,
    /// the field and both values.</summary>
    public IEnumerable<string> Compare(NativeStruct c)
    {
        string cs = Managed.Name;
        if (!Managed.IsValueType || !(Managed.IsLayoutSequential || Managed.IsExplicitLayout))
        {
            yield return $"{Native}: C# {cs} is not a struct with sequential or explicit layout";
            yield break;
        }
        int size = ManagedLayout.SizeOf(Managed);
        if (size != c.Size)
        {
            yield return $"{Native}: size C {c.Size}, C# {cs} {size}";
        }
        IReadOnlyList<ManagedField> fields = ManagedLayout.Fields(Managed);
        if (fields.Count != c.Fields.Count)
        {
            yield return $"{Native}: field count C {c.Fields.Count}, C# {cs} {fields.Count}";
        }
        var byKey = fields.GroupBy(f => MirrorName.Key(f.Field.Name)).ToDictionary(g => g.Key, g => g.First());
        var paired = new HashSet<string>();
        foreach (NativeField n in c.Fields)
        {
            string key = MirrorName.Key(n.Name, Prefix, Renames);
            if (!byKey.TryGetValue(key, out ManagedField? m))
            {
                yield return $"{Native}.{n.Name}: no C# field in {cs} (looked for '{key}', case-insensitive)";
                continue;
            }
            if (!paired.Add(m.Field.Name))
            {
                yield return $"{Native}.{n.Name}: C# field {cs}.{m.Field.Name} is already paired with another";
            }
            if (m.Offset != n.Offset)
            {
                yield return $"{Native}.{n.Name}: offset C {n.Offset}, C# {cs}.{m.Field.Name} {m.Offset}";
            }
            if (m.Size != n.Size)
            {
                yield return $"{Native}.{n.Name}: size C {n.Size}, C# {cs}.{m.Field.Name} {m.Size}";
            }
        }
        foreach (ManagedField m in fields.Where(f => !paired.Contains(f.Field.Name)))
        {
            yield return $"{Native}: C# field {cs}.{m.Field.Name} (offset {m.Offset}) has no C field";
        }
    }
}
