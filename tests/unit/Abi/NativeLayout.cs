using System.Diagnostics;
using System.Text.Json;

namespace NativeBdev.Tests.Abi;

internal sealed record NativeField(string Name, int Offset, int Size);

internal sealed record NativeStruct(string Name, int Size, IReadOnlyList<NativeField> Fields);

/// <summary>The C side of the layout checks: what a C compiler makes of a header, as dumped by
/// tests/abi/dump_header_layout.py (libclang) or tests/abi/kernel_layouts.c (gcc). Both print
/// the same JSON shape for structs; the tools run from the repository, so the checks always
/// see the headers as they are now, not a copy.</summary>
internal static class NativeLayout
{
    public static readonly string RepoRoot = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "include", "nativebdev.h")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("repository root (include/nativebdev.h) not found above " +
            AppContext.BaseDirectory);
    }

    /// <summary>Runs a tool and returns its standard output; a failure is an error, not a skip:
    /// CI installs gcc, python3-clang and linux-libc-dev through build.sh.</summary>
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoRoot,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}");
        }
        return stdout;
    }

    /// <summary>The "structs" object: name -> {size, fields: [{name, offset, size}]}.</summary>
    public static Dictionary<string, NativeStruct> Structs(JsonElement root)
    {
        var result = new Dictionary<string, NativeStruct>();
        foreach (JsonProperty s in root.GetProperty("structs").EnumerateObject())
        {
            var fields = s.Value.GetProperty("fields").EnumerateArray()
                .Select(f => new NativeField(f.GetProperty("name").GetString()!,
                    f.GetProperty("offset").GetInt32(), f.GetProperty("size").GetInt32()))
                .ToList();
            result[s.Name] = new NativeStruct(s.Name, s.Value.GetProperty("size").GetInt32(), fields);
        }
        return result;
    }

    /// <summary>An integer constant as printed: may be UINT64_MAX or negative, so Int128.</summary>
    public static Int128 Integer(JsonElement value) => Int128.Parse(value.GetRawText());
}
