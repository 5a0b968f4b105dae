using System;
using System.Collections.Generic;

namespace NativeBdev.Nbd;

/// <summary>An export as a client sees it during the handshake.</summary>
internal sealed class NbdExportView
{
    public NbdExportView(byte[] name, byte[] description, NbdExportGeometry geometry, object? tag)
    {
        Name = name;
        Description = description;
        Geometry = geometry;
        Tag = tag;
    }

    public byte[] Name { get; }

    public byte[] Description { get; }

    public NbdExportGeometry Geometry { get; }

    /// <summary>The catalog's own record behind the view.</summary>
    public object? Tag { get; }
}

/// <summary>What the handshake asks of the server: find exports, list them, and take one
/// into use before NBD_OPT_GO is acknowledged (so a failure to open its bdev is an error
/// reply, not a dropped connection).</summary>
internal interface INbdExportCatalog
{
    /// <summary>The export of that name (as the client sent it; empty: the default), or null.</summary>
    NbdExportView? Find(ReadOnlySpan<byte> name);

    void List(List<NbdExportView> exports);

    /// <summary>0, or a message for the client why the export cannot be used now.</summary>
    string? Attach(NbdExportView export);
}
