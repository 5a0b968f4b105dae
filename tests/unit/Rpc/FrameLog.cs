using System.Text;
using NativeBdev.Rpc;

namespace NativeBdev.Tests.Rpc;

/// <summary>Collects the values an <see cref="RpcDecoder"/> delivers, as text.</summary>
internal sealed class FrameLog : IRpcFrameSink
{
    public readonly List<string> Frames = new();

    public void OnFrame(ReadOnlySpan<byte> json) => Frames.Add(Encoding.UTF8.GetString(json));
}
