using System;
using System.Collections.Generic;

namespace NativeBdev.Metrics;

/// <summary>Families that front ends add to the scrape (NBD and NVMe/TCP connections, ...),
/// each a function that writes whole families; the runtime's own come first.</summary>
internal static class MetricsSources
{
    private static readonly object s_lock = new();
    private static readonly List<Action<PrometheusWriter>> s_sources = new();

    public static void Add(Action<PrometheusWriter> source)
    {
        lock (s_lock)
        {
            s_sources.Add(source);
        }
    }

    public static Action<PrometheusWriter>[] Snapshot()
    {
        lock (s_lock)
        {
            return s_sources.ToArray();
        }
    }
}
