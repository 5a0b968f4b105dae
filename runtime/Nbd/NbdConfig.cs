using System.Text.Json;
using NativeBdev.Bdev;

namespace NativeBdev.Nbd;

/// <summary>The nbd subsystem's config entries: SPDK's nbd_start_disk for each kernel
/// /dev/nbdX disk, then the network server's address and each export, as the nbd_server_*
/// calls that re-create them.</summary>
internal static class NbdConfig
{
    public static void Write(Utf8JsonWriter writer)
    {
        writer.WriteStartArray();
        Kernel.NbdDisks.WriteConfig(writer);
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
