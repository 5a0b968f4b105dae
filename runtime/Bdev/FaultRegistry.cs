using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>Every fault rule, by id; each bdev sees its own as an array it reads without
/// a lock. Control path only.</summary>
internal static class FaultRegistry
{
    private static readonly object s_lock = new();
    private static readonly List<(FaultRule Rule, Bdev Bdev)> s_rules = new();

    /// <summary>Adds a rule from an inject:// URI; returns its id (&gt; 0) or -errno.</summary>
    public static int Add(string? uri)
    {
        int rc = FaultRule.Parse(uri, out FaultRule? rule);
        if (rc != 0)
        {
            return rc;
        }
        return Add(rule!);
    }

    public static int Add(FaultRule rule)
    {
        Bdev? b = BdevRegistry.Find(rule.BdevName);
        if (b == null)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{rule.BdevName}' to inject faults into");
        }
        lock (s_lock)
        {
            s_rules.Add((rule, b));
            Publish(b);
        }
        if (!rule.Internal)
        {
            Log.Notice($"fault rule {rule.Id} on '{b.Name}': {rule.Uri}");
        }
        return rule.Id;
    }

    /// <summary>A module's own rule from an inject:// URI: applied like any other, hidden
    /// from hosts' listing and clearing. Returns the id or -errno.</summary>
    public static int AddInternal(string uri)
    {
        int rc = FaultRule.Parse(uri, isInternal: true, out FaultRule? rule);
        return rc != 0 ? rc : Add(rule!);
    }

    /// <summary>Removes a module's own rules (<see cref="AddInternal"/>) of the bdev named
    /// <paramref name="name"/>; returns how many.</summary>
    public static int RemoveInternal(string name)
    {
        lock (s_lock)
        {
            Bdev? touched = null;
            int n = s_rules.RemoveAll(r =>
            {
                bool match = r.Rule.Internal && r.Bdev.Name == name;
                if (match)
                {
                    touched = r.Bdev;
                }
                return match;
            });
            if (touched != null)
            {
                Publish(touched);
            }
            return n;
        }
    }

    public static int Remove(int id)
    {
        lock (s_lock)
        {
            int i = s_rules.FindIndex(r => r.Rule.Id == id && !r.Rule.Internal);
            if (i < 0)
            {
                return LastError.Set(Errno.ENOENT, $"no fault rule with id {id}");
            }
            Bdev b = s_rules[i].Bdev;
            s_rules.RemoveAt(i);
            Publish(b);
            return 0;
        }
    }

    /// <summary>Removes every rule of the bdev named <paramref name="name"/> (or of every
    /// bdev when null); returns how many.</summary>
    public static int Clear(string? name)
    {
        lock (s_lock)
        {
            var touched = new HashSet<Bdev>();
            int n = s_rules.RemoveAll(r =>
            {
                bool match = !r.Rule.Internal && (name == null || r.Bdev.Name == name);
                if (match)
                {
                    touched.Add(r.Bdev);
                }
                return match;
            });
            foreach (Bdev b in touched)
            {
                Publish(b);
            }
            return n;
        }
    }

    /// <summary>Called when a bdev is gone: its rules go with it.</summary>
    public static void Forget(Bdev b)
    {
        lock (s_lock)
        {
            s_rules.RemoveAll(r => r.Bdev == b);
            b.Faults = null;
        }
    }

    public static (FaultRule Rule, string Bdev)[] Snapshot()
    {
        lock (s_lock)
        {
            return s_rules.FindAll(r => !r.Rule.Internal).ConvertAll(r => (r.Rule, r.Bdev.Name)).ToArray();
        }
    }

    // With s_lock held.
    private static void Publish(Bdev b)
    {
        var mine = new List<FaultRule>();
        foreach (var (rule, bdev) in s_rules)
        {
            if (bdev == b)
            {
                mine.Add(rule);
            }
        }
        b.Faults = mine.Count == 0 ? null : mine.ToArray();
    }
}
