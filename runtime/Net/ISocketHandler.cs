namespace NativeBdev.Net;

/// <summary>What owns a <see cref="NetSocket"/>: its group calls it, on the socket's thread,
/// when the socket is readable (data, end of stream or an error to read) and when it can
/// take more bytes (only while the owner asked for that with
/// <see cref="NetSocket.WantWrite"/>). A handler does a bounded amount of work per call;
/// the group is level-triggered, so what it leaves comes back on the next poll.</summary>
internal interface ISocketHandler
{
    void OnReadable(NetSocket socket);

    void OnWritable(NetSocket socket);
}
