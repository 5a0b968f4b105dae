using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>A device URI as Mayastor writes them: <c>scheme://host[:port]/path?k=v&amp;k=v</c>
/// (<c>malloc:///m0?size_mb=64</c>, <c>uring:///dev/sdb?blk_size=4096</c>). Parsed by hand
/// so that every malformed input gets a precise message, and fuzzed.</summary>
internal sealed class BdevUri
{
    public string Text { get; }
    public string Scheme { get; }
    public string Host { get; }
    public string Path { get; }
    private readonly List<(string Key, string Value)> _params;
    private readonly HashSet<string> _used = new();

    private BdevUri(string text, string scheme, string host, string path, List<(string, string)> ps)
    {
        Text = text;
        Scheme = scheme;
        Host = host;
        Path = path;
        _params = ps;
    }

    public const int MaxLength = 4096;

    public static int Parse(string? text, out BdevUri? uri)
    {
        uri = null;
        if (string.IsNullOrEmpty(text))
        {
            return LastError.Set(Errno.EINVAL, "URI is empty");
        }
        if (text.Length > MaxLength)
        {
            return LastError.Set(Errno.EINVAL, $"URI is longer than {MaxLength} characters");
        }
        int sep = text.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"URI '{Redacted(text)}' has no scheme (expected scheme:///path, e.g. malloc:///m0?size_mb=64)");
        }
        string scheme = text[..sep].ToLowerInvariant();
        foreach (char c in scheme)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '+' || c == '-' || c == '.'))
            {
                return LastError.Set(Errno.EINVAL, $"URI scheme '{scheme}' has an invalid character");
            }
        }
        string rest = text[(sep + 3)..];
        string query = "";
        int q = rest.IndexOf('?');
        if (q >= 0)
        {
            query = rest[(q + 1)..];
            rest = rest[..q];
        }
        int slash = rest.IndexOf('/');
        string host = slash < 0 ? rest : rest[..slash];
        string path = slash < 0 ? "" : rest[slash..];
        if (!TryDecode(path, plusIsSpace: false, out string decodedPath))
        {
            return LastError.Set(Errno.EINVAL, $"URI '{Redacted(text)}' has a bad percent-encoding in its path");
        }
        var ps = new List<(string, string)>();
        if (query.Length > 0)
        {
            foreach (string pair in query.Split('&'))
            {
                if (pair.Length == 0)
                {
                    continue;
                }
                int eq = pair.IndexOf('=');
                string k = eq < 0 ? pair : pair[..eq];
                string v = eq < 0 ? "" : pair[(eq + 1)..];
                if (!TryDecode(k, plusIsSpace: true, out k) || !TryDecode(v, plusIsSpace: true, out v))
                {
                    return LastError.Set(Errno.EINVAL,
                        $"URI '{Redacted(text)}' has a bad percent-encoding in its query");
                }
                if (k.Length == 0)
                {
                    return LastError.Set(Errno.EINVAL, $"URI '{Redacted(text)}' has a parameter without a name");
                }
                foreach (var (existing, _) in ps)
                {
                    if (existing == k)
                    {
                        return LastError.Set(Errno.EINVAL, $"URI parameter '{k}' is given twice");
                    }
                }
                ps.Add((k, v));
            }
        }
        uri = new BdevUri(text, scheme, host, decodedPath, ps);
        return 0;
    }

    /// <summary>The URI as messages may quote it: the values of key= and key2= (crypto://'s inline
    /// key material) replaced by "***", so that no key reaches a log line or nb_last_error.</summary>
    public static string Redacted(string text)
    {
        if (text.IndexOf("key", StringComparison.Ordinal) < 0)
        {
            return text;
        }
        return System.Text.RegularExpressions.Regex.Replace(text, "([?&](?:key|key2)=)[^&]*", "$1***");
    }

    /// <summary>Percent-decoding; '+' means a space only in the query (form encoding), never
    /// in the path (RFC 3986: /dev/disk/by-id/a+b is a literal '+').</summary>
    private static bool TryDecode(string s, bool plusIsSpace, out string decoded)
    {
        decoded = s;
        if (s.IndexOf('%') < 0 && (!plusIsSpace || s.IndexOf('+') < 0))
        {
            return true;
        }
        var bytes = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '%')
            {
                if (i + 2 >= s.Length)
                {
                    return false;
                }
                if (!byte.TryParse(s.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, null, out byte b))
                {
                    return false;
                }
                bytes.Add(b);
                i += 2;
            }
            else if (c == '+' && plusIsSpace)
            {
                bytes.Add((byte)' ');
            }
            else if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                // A character outside the BMP is two chars: encode them together, or each
                // half alone becomes U+FFFD.
                bytes.AddRange(Encoding.UTF8.GetBytes(s.Substring(i, 2)));
                i++;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        }
        try
        {
            decoded = new UTF8Encoding(false, true).GetString(bytes.ToArray());
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>The path without its leading slash: the device name for malloc:///m0.</summary>
    public string Name => Path.StartsWith('/') ? Path[1..] : Path;

    public bool Has(string key)
    {
        foreach (var (k, _) in _params)
        {
            if (k == key)
            {
                return true;
            }
        }
        return false;
    }

    public string? Get(string key)
    {
        foreach (var (k, v) in _params)
        {
            if (k == key)
            {
                _used.Add(k);
                return v;
            }
        }
        return null;
    }

    /// <summary>An unsigned integer parameter; <paramref name="value"/> keeps its default
    /// when absent.</summary>
    public int GetU64(string key, ref ulong value, ulong min = 0, ulong max = ulong.MaxValue)
    {
        string? s = Get(key);
        if (s == null)
        {
            return 0;
        }
        if (!ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) || v < min || v > max)
        {
            return LastError.Set(Errno.EINVAL, $"URI parameter {key}='{s}' must be an integer in {min} .. {max}");
        }
        value = v;
        return 0;
    }

    public int GetBool(string key, ref bool value)
    {
        string? s = Get(key);
        if (s == null)
        {
            return 0;
        }
        switch (s.ToLowerInvariant())
        {
            case "1":
            case "true":
            case "yes":
            case "on":
                value = true;
                return 0;
            case "0":
            case "false":
            case "no":
            case "off":
                value = false;
                return 0;
            default:
                return LastError.Set(Errno.EINVAL, $"URI parameter {key}='{s}' must be true or false");
        }
    }

    public int GetUuid(ref Guid value)
    {
        string? s = Get("uuid");
        if (s == null)
        {
            return 0;
        }
        if (!Guid.TryParseExact(s, "D", out Guid g))
        {
            return LastError.Set(Errno.EINVAL, $"URI parameter uuid='{s}' is not a UUID (8-4-4-4-12 hex digits)");
        }
        value = g;
        return 0;
    }

    /// <summary>After a factory has read what it knows: any other parameter is an error,
    /// so a typo (blksize for blk_size) is never silently ignored.</summary>
    public int CheckAllUsed(string known)
    {
        foreach (var (k, _) in _params)
        {
            if (!_used.Contains(k))
            {
                return LastError.Set(Errno.EINVAL, $"unknown parameter '{k}' for {Scheme}:// URIs (known: {known})");
            }
        }
        return 0;
    }
}
