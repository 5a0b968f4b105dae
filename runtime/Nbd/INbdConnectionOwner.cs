using System;
using System.Collections.Generic;

namespace NativeBdev.Nbd;

/// <summary>What a connection needs from whoever made it: the network server (many
/// clients, a handshake each) or a kernel /dev/nbdX disk (one socket of a socketpair, no
/// handshake). All calls come on the owner's thread.</summary>
internal interface INbdConnectionOwner
{
    NbdServerOptions Options { get; }

    /// <summary>Sends <paramref name="c"/>'s completed replies from the owner's next poll.</summary>
    void QueueFlush(NbdConnection c);

    /// <summary>The connection released its bdev, channel and buffers.</summary>
    void Closed(NbdConnection c);

    /// <summary>The export's bdev is going away (REMOVE or FAILED): the owner ends the connection.</summary>
    void BdevGoing(NbdConnection c, string why);

    NbdExportView? FindView(ReadOnlySpan<byte> name);

    void ListViews(List<NbdExportView> views);
}
