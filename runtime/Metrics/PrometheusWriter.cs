using System;
using System.Globalization;
using System.Text;

namespace NativeBdev.Metrics;

/// <summary>Prometheus' text exposition format (version 0.0.4): a HELP and a TYPE line per
/// family, then its samples; label values escaped (backslash, quote, newline) as the format
/// requires. Families are written whole, one after another.</summary>
internal sealed class PrometheusWriter
{
    private readonly StringBuilder _text = new(16 << 10);

    public void Family(string name, string type, string help)
    {
        _text.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n"))
            .Append('\n');
        _text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    /// <summary>One sample; <paramref name="labels"/> are name, value pairs.</summary>
    public void Sample(string name, double value, params string[] labels)
    {
        _text.Append(name);
        if (labels.Length > 0)
        {
            _text.Append('{');
            for (int i = 0; i + 1 < labels.Length; i += 2)
            {
                if (i > 0)
                {
                    _text.Append(',');
                }
                _text.Append(labels[i]).Append("=\"");
                foreach (char c in labels[i + 1])
                {
                    _ = c switch
                    {
                        '\\' => _text.Append("\\\\"),
                        '"' => _text.Append("\\\""),
                        '\n' => _text.Append("\\n"),
                        _ => _text.Append(c),
                    };
                }
                _text.Append('"');
            }
            _text.Append('}');
        }
        _text.Append(' ').Append(Format(value)).Append('\n');
    }

    public static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture);

    public byte[] ToUtf8() => Encoding.UTF8.GetBytes(_text.ToString());
}
