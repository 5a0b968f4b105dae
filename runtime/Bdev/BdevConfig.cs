using System;
using System.Text.Json;

namespace NativeBdev.Bdev;

/// <summary>Writes SPDK config entries (<c>{"method": ..., "params": {...}}</c>), the shape
/// of SPDK's save_config and of the JSON config files SPDK programs load, so a bdev written
/// here is re-created by the same call in SPDK or here.</summary>
internal static class BdevConfig
{
    public static void Entry(Utf8JsonWriter w, string method, Action<Utf8JsonWriter> writeParams)
    {
        w.WriteStartObject();
        w.WriteString("method", method);
        w.WriteStartObject("params");
        writeParams(w);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>name, num_blocks, block_size and uuid: what SPDK's null and malloc create take.</summary>
    public static void SizedDevice(Utf8JsonWriter writer, string method, Bdev bdev) => Entry(writer, method, w =>
    {
        w.WriteString("name", bdev.Name);
        w.WriteNumber("num_blocks", bdev.BlockCount);
        w.WriteNumber("block_size", bdev.BlockSize);
        w.WriteString("uuid", bdev.Uuid.ToString());
    });

    /// <summary>The whole bdev subsystem's config as SPDK writes it in a config file.</summary>
    public static string Subsystem()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("subsystem", "bdev");
            w.WritePropertyName("config");
            BdevModules.WriteConfig(w);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
