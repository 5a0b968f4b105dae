using System;
using NativeBdev.Interop;

namespace NativeBdev.Env;

/// <summary>A set of CPU cores, parsed from SPDK's core-mask syntax: a hex mask
/// (<c>0x3</c>, or <c>3</c>) or a bracketed list of cores and ranges (<c>[0,2-3]</c>).</summary>
internal sealed class CpuSet
{
    public const int MaxCpus = 1024;
    private readonly ulong[] _words = new ulong[MaxCpus / 64];

    public bool this[int cpu]
    {
        get => cpu >= 0 && cpu < MaxCpus && (_words[cpu >> 6] & (1UL << (cpu & 63))) != 0;
        set
        {
            if (value)
            {
                _words[cpu >> 6] |= 1UL << (cpu & 63);
            }
            else
            {
                _words[cpu >> 6] &= ~(1UL << (cpu & 63));
            }
        }
    }

    public int Count
    {
        get
        {
            int n = 0;
            foreach (ulong w in _words)
            {
                n += System.Numerics.BitOperations.PopCount(w);
            }
            return n;
        }
    }

    public bool IsEmpty => Count == 0;

    public ReadOnlySpan<ulong> Words => _words;

    public bool Intersects(CpuSet other)
    {
        for (int i = 0; i < _words.Length; i++)
        {
            if ((_words[i] & other._words[i]) != 0)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Cores in ascending order.</summary>
    public int[] ToArray()
    {
        int[] cpus = new int[Count];
        int k = 0;
        for (int cpu = 0; cpu < MaxCpus; cpu++)
        {
            if (this[cpu])
            {
                cpus[k++] = cpu;
            }
        }
        return cpus;
    }

    public static CpuSet Single(int cpu)
    {
        var set = new CpuSet();
        set[cpu] = true;
        return set;
    }

    /// <summary>The cores online in this machine (sysconf). The calling thread's own affinity
    /// is not used: a host that pinned its main thread still may start reactors elsewhere;
    /// a core a cgroup forbids makes the reactor's pinning fail with a clear error.</summary>
    public static CpuSet Available()
    {
        var set = new CpuSet();
        long online = Libc.sysconf(Libc._SC_NPROCESSORS_ONLN);
        if (online <= 0)
        {
            online = Environment.ProcessorCount;
        }
        for (int cpu = 0; cpu < Math.Min(online, MaxCpus); cpu++)
        {
            set[cpu] = true;
        }
        return set;
    }

    /// <summary>Parses a core mask. Returns 0 or -EINVAL with the reason in LastError.</summary>
    public static int TryParse(string? text, out CpuSet set)
    {
        set = new CpuSet();
        if (string.IsNullOrWhiteSpace(text))
        {
            return LastError.Set(Errno.EINVAL, "core mask is empty");
        }
        string s = text.Trim();
        var parsed = new CpuSet();
        int rc = s[0] == '[' ? ParseList(s, parsed) : ParseHex(s, parsed);
        if (rc == 0)
        {
            set = parsed; // a failed parse leaves the caller an empty set, not half of one
        }
        return rc;
    }

    private static int ParseHex(string s, CpuSet set)
    {
        string digits = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s;
        if (digits.Length == 0 || digits.Length > MaxCpus / 4)
        {
            return LastError.Set(Errno.EINVAL, $"core mask '{s}' is not a hex mask of at most {MaxCpus / 4} digits");
        }
        for (int i = 0; i < digits.Length; i++)
        {
            int v = HexValue(digits[digits.Length - 1 - i]);
            if (v < 0)
            {
                return LastError.Set(Errno.EINVAL, $"core mask '{s}' has a character that is not a hex digit");
            }
            for (int b = 0; b < 4; b++)
            {
                if ((v & (1 << b)) != 0)
                {
                    set[i * 4 + b] = true;
                }
            }
        }
        return set.IsEmpty ? LastError.Set(Errno.EINVAL, $"core mask '{s}' selects no core") : 0;
    }

    private static int ParseList(string s, CpuSet set)
    {
        if (s.Length < 3 || s[^1] != ']')
        {
            return LastError.Set(Errno.EINVAL, $"core list '{s}' must look like [0,2-3]");
        }
        foreach (string part in s[1..^1].Split(','))
        {
            string p = part.Trim();
            int dash = p.IndexOf('-');
            string lo = dash < 0 ? p : p[..dash];
            string hi = dash < 0 ? p : p[(dash + 1)..];
            if (!int.TryParse(lo, out int a) || !int.TryParse(hi, out int b) || a < 0 || b < a || b >= MaxCpus)
            {
                return LastError.Set(Errno.EINVAL,
                    $"core list '{s}' has a bad entry '{p}' (cores are 0..{MaxCpus - 1})");
            }
            for (int cpu = a; cpu <= b; cpu++)
            {
                set[cpu] = true;
            }
        }
        return set.IsEmpty ? LastError.Set(Errno.EINVAL, $"core list '{s}' selects no core") : 0;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    public override string ToString()
    {
        var cpus = ToArray();
        return "[" + string.Join(",", cpus) + "]";
    }
}
