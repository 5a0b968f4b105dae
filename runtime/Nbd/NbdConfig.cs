using System.Text.Json;
using NativeBdev.Bdev;

namespace NativeBdev.Nbd;

/// <summary>The nbd subsystem's config entries: the server's address and each export, as the
/// nbd_server_* calls that re-create them (SPDK's own nbd section holds nbd_start_disk entries
/// for kernel devices, which this runtime does not make).</summary>
internal static class NbdConfig
{
    public static void Write(Utf8JsonWriter writer)
    {
        writer.WriteStartArray();
        NbdServer? server = NbdService.Current;
        if (server != null)
        {
            BdevConfig.Entry(writer, "nbd_server_start", w => w.WriteString("listen_address", server.Endpoint.Text));
            foreach (NbdExport e in server.Exports())
            {
                BdevConfig.Entry(writer, "nbd_server_add_export", w =>
                {
                    w.WriteString("name", e.Name);
                    w.WriteString("bdev_name", e.BdevName);
                    w.WriteBoolean("read_only", e.ReadOnly);
                    w.WriteString("description", e.Description);
                });
            }
        }
        writer.WriteEndArray();
    }
}
