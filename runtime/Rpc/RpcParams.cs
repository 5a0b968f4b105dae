using System;
using System.Text.Json;

namespace NativeBdev.Rpc;

/// <summary>A call's parameters, checked against the method's declaration: every name
/// declared, every required one present, every value of its declared type. Accessors take
/// the declared name; asking for an undeclared one is a programming error.</summary>
internal sealed class RpcParams
{
    private readonly RpcMethod _method;
    private readonly JsonElement[] _values;
    private readonly bool[] _given;

    private RpcParams(RpcMethod method)
    {
        _method = method;
        _values = new JsonElement[method.Parameters.Length];
        _given = new bool[method.Parameters.Length];
    }

    /// <summary>Checks <paramref name="raw"/> (absent: default) against the method. On a
    /// mismatch returns null and an -32602 message that names the parameter.</summary>
    public static RpcParams? Validate(RpcMethod method, JsonElement raw, out string? error)
    {
        error = null;
        var p = new RpcParams(method);
        if (raw.ValueKind == JsonValueKind.Undefined)
        {
            return p.CheckRequired(out error) ? p : null;
        }
        if (raw.ValueKind != JsonValueKind.Object)
        {
            error = method.Parameters.Length == 0
                ? $"{method.Name} method requires no parameters"
                : $"{RpcError.InvalidParamsMessage}: {method.Name} takes its parameters as an object, " +
                  $"not {Describe(raw.ValueKind)}";
            return null;
        }
        foreach (JsonProperty prop in raw.EnumerateObject())
        {
            int i = p.IndexOf(prop.Name);
            if (i < 0)
            {
                error = method.Parameters.Length == 0
                    ? $"{method.Name} method requires no parameters"
                    : $"{RpcError.InvalidParamsMessage}: unknown parameter '{prop.Name}'";
                return null;
            }
            RpcParam decl = method.Parameters[i];
            if (!Fits(decl.Kind, prop.Value))
            {
                error = $"{RpcError.InvalidParamsMessage}: '{decl.Name}' must be {Expected(decl.Kind)}, " +
                        $"not {Describe(prop.Value.ValueKind)}";
                return null;
            }
            p._values[i] = prop.Value;
            p._given[i] = true;
        }
        return p.CheckRequired(out error) ? p : null;
    }

    private bool CheckRequired(out string? error)
    {
        for (int i = 0; i < _given.Length; i++)
        {
            if (_method.Parameters[i].Required && !_given[i])
            {
                error = $"{RpcError.InvalidParamsMessage}: missing required parameter '{_method.Parameters[i].Name}'";
                return false;
            }
        }
        error = null;
        return true;
    }

    private int IndexOf(string name)
    {
        RpcParam[] decl = _method.Parameters;
        for (int i = 0; i < decl.Length; i++)
        {
            if (decl[i].Name == name)
            {
                return i;
            }
        }
        return -1;
    }

    private static bool Fits(RpcParamKind kind, JsonElement v) => kind switch
    {
        RpcParamKind.String => v.ValueKind == JsonValueKind.String,
        RpcParamKind.Bool => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        RpcParamKind.UInt32 => v.ValueKind == JsonValueKind.Number && v.TryGetUInt32(out _),
        RpcParamKind.UInt64 => v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out _),
        RpcParamKind.Int64 => v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out _),
        RpcParamKind.Uuid => v.ValueKind == JsonValueKind.String && Guid.TryParse(v.GetString(), out _),
        RpcParamKind.StringList => v.ValueKind == JsonValueKind.String || AllStrings(v),
        RpcParamKind.Object => v.ValueKind == JsonValueKind.Object,
        _ => false,
    };

    private static bool AllStrings(JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Array)
        {
            return false;
        }
        foreach (JsonElement e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String)
            {
                return false;
            }
        }
        return true;
    }

    private static string Expected(RpcParamKind kind) => kind switch
    {
        RpcParamKind.String => "a string",
        RpcParamKind.Bool => "true or false",
        RpcParamKind.UInt32 => "an integer from 0 to 4294967295",
        RpcParamKind.UInt64 => "an integer from 0 to 18446744073709551615",
        RpcParamKind.Int64 => "a 64-bit integer",
        RpcParamKind.Uuid => "a UUID string",
        RpcParamKind.StringList => "an array of strings or a string",
        RpcParamKind.Object => "an object",
        _ => "?",
    };

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "this number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private int Declared(string name, RpcParamKind kind)
    {
        int i = IndexOf(name);
        if (i < 0 || _method.Parameters[i].Kind != kind)
        {
            throw new InvalidOperationException($"{_method.Name}: no {kind} parameter '{name}' is declared");
        }
        return i;
    }

    /// <summary>The object's members checked against <paramref name="members"/> as a call's
    /// parameters are (the message names the object); null and the message on a mismatch.</summary>
    public RpcParams? Object(string name, RpcParam[] members, out string? error)
    {
        int i = Declared(name, RpcParamKind.Object);
        var shape = new RpcMethod($"{_method.Name} {name}", members, static (_, _) => { });
        RpcParams? p = Validate(shape, _given[i] ? _values[i] : default, out error);
        if (error != null)
        {
            error = error.Replace(": unknown parameter", $": '{name}': unknown member")
                .Replace(": missing required parameter", $": '{name}': missing member");
        }
        return p;
    }

    public bool Has(string name)
    {
        int i = IndexOf(name);
        return i >= 0 && _given[i];
    }

    public string? String(string name, string? fallback = null)
    {
        int i = Declared(name, RpcParamKind.String);
        return _given[i] ? _values[i].GetString() : fallback;
    }

    public bool Bool(string name, bool fallback = false)
    {
        int i = Declared(name, RpcParamKind.Bool);
        return _given[i] ? _values[i].GetBoolean() : fallback;
    }

    public uint UInt32(string name, uint fallback = 0)
    {
        int i = Declared(name, RpcParamKind.UInt32);
        return _given[i] ? _values[i].GetUInt32() : fallback;
    }

    public ulong UInt64(string name, ulong fallback = 0)
    {
        int i = Declared(name, RpcParamKind.UInt64);
        return _given[i] ? _values[i].GetUInt64() : fallback;
    }

    public long Int64(string name, long fallback = 0)
    {
        int i = Declared(name, RpcParamKind.Int64);
        return _given[i] ? _values[i].GetInt64() : fallback;
    }

    /// <summary>The array's strings, or the string's blank-separated words; empty when absent.</summary>
    public string[] StringList(string name)
    {
        int i = Declared(name, RpcParamKind.StringList);
        if (!_given[i])
        {
            return [];
        }
        JsonElement v = _values[i];
        if (v.ValueKind == JsonValueKind.String)
        {
            return v.GetString()!.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        }
        var list = new string[v.GetArrayLength()];
        int n = 0;
        foreach (JsonElement e in v.EnumerateArray())
        {
            list[n++] = e.GetString()!;
        }
        return list;
    }

    public Guid? Uuid(string name)
    {
        int i = Declared(name, RpcParamKind.Uuid);
        return _given[i] ? Guid.Parse(_values[i].GetString()!) : null;
    }
}
