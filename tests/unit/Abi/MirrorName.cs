namespace NativeBdev.Tests.Abi;

/// <summary>How a C name pairs with a C# name in the layout checks: the C name without its
/// prefix, underscores and brackets, compared case-insensitively with the C# name
/// (<c>dma_pool_size</c> = <c>DmaPoolSize</c>, <c>resv[0]</c> = <c>Resv0</c>,
/// <c>NB_BDEV_IO_TYPE_WRITE_ZEROES</c> less <c>NB_BDEV_IO_TYPE_</c> = <c>WriteZeroes</c>); a
/// rename (C name, C# name) overrides it where the two differ.</summary>
internal static class MirrorName
{
    public static string Key(string nativeName, string prefix, (string Native, string Managed)[] renames)
    {
        foreach ((string n, string m) in renames)
        {
            if (n == nativeName)
            {
                return m.ToLowerInvariant();
            }
        }
        string s = prefix.Length > 0 && nativeName.StartsWith(prefix, StringComparison.Ordinal)
            ? nativeName[prefix.Length..] : nativeName;
        return new string(s.Where(char.IsLetterOrDigit).ToArray()).ToLowerInvariant();
    }

    public static string Key(string managedName) => managedName.ToLowerInvariant();
}
