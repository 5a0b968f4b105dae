using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Reactor;

namespace NativeBdev.Nbd;

/// <summary>One NBD client on its socket, on the server's thread: the handshake
/// (<see cref="NbdHandshake"/>), then requests, each a bdev I/O on this thread's channel of
/// the export's bdev, replied to in the order they complete. Bounded: a request waits in the
/// socket while no slot or buffer is free; a client that stops reading stops being read.
/// A violation of the protocol ends this connection only.</summary>
internal sealed unsafe partial class NbdConnection : ISocketHandler, INbdExportCatalog
{
    private const int ReceiveBufferBytes = 128 << 10;
    private const int MaxHandshakeOutput = 1 << 20;
    private const int ReceivesPerPoll = 32;
    private const int RequestsPerPoll = 256;
    private const int SendBatch = 64;
    /// <summary>The protocol asks servers to take payloads up to 32 MiB even beyond their
    /// advertised limit (consumed and refused); longer ones end the connection.</summary>
    private const uint MaxSkippedPayload = 32 << 20;

    private readonly INbdConnectionOwner _server;
    private readonly NetSocket _socket;
    private readonly byte[] _in = new byte[ReceiveBufferBytes];
    private int _inStart;
    private int _inEnd;
    private NbdHandshake? _handshake;
    private int _handshakeSent;
    private GCHandle _self;

    // Transmission state.
    private NbdExport? _export;
    private NbdExportGeometry _geometry;
    private bool _structured;
    private bool _metaContext;
    private BdevDesc? _desc;
    private IoChannel? _ioChannel;
    private BdevChannel? _channel;
    private NbdBuffers? _buffers;
    private bool _canFlush;
    private NbdSlot* _payload;   // the write whose data is being received
    private uint _payloadDone;
    private ulong _skip;         // payload bytes of a refused write still to discard
    private NbdSlotQueue _sends = new();   // replies in completion order
    private NbdSlotQueue _parked = new();  // requests waiting for a bdev_io
    private uint _sendOffset;
    private int _atBdev;
    private bool _blocked;       // a request waits for a slot or buffers
    private bool _resume;        // ... and a sent reply freed one: handle the buffered requests
    private bool _pumping;
    private bool _again;
    private bool _draining;      // no more input: finish what is in flight, then close
    private bool _disposed;

    public NbdConnection(INbdConnectionOwner server, NetSocket socket)
    {
        _server = server;
        _socket = socket;
        _handshake = new NbdHandshake(this);
        _handshake.WriteGreeting();
    }

    /// <summary>A connection already in transmission, as the kernel's nbd driver speaks on
    /// the socket handed to it with NBD_SET_SOCK: no handshake, simple replies only;
    /// <see cref="AttachExport"/> chooses its export before the first request.</summary>
    public NbdConnection(INbdConnectionOwner owner, NetSocket socket, bool transmissionOnly)
    {
        Invariant.Assert(transmissionOnly, "the handshake-less constructor is for transmission only");
        _server = owner;
        _socket = socket;
    }

    public NbdExport? Export => _export;

    /// <summary>What the requests are checked against (set by the handshake or <see cref="AttachExport"/>).</summary>
    public NbdExportGeometry Geometry => _geometry;

    public bool IsClosed => _socket.IsClosed;

    /// <summary>Sends the greeting (from the adopting thread, after the socket joined its group).</summary>
    public void Begin() => Pump();

    public void OnReadable(NetSocket socket) => Pump();

    public void OnWritable(NetSocket socket) => Pump();

    /// <summary>Reads and handles input, sends output, until neither makes progress or a
    /// budget is spent. Re-entered from a completion or a refusal inside it, it runs again
    /// from the top instead of nesting.</summary>
    private void Pump()
    {
        if (_pumping)
        {
            _again = true;
            return;
        }
        _pumping = true;
        try
        {
            int rounds = 0;
            do
            {
                _again = false;
                _resume = false;
                if (!_socket.IsClosed && !_draining)
                {
                    if (_handshake != null)
                    {
                        Negotiate();
                    }
                    if (_handshake == null && !_socket.IsClosed && !_draining)
                    {
                        Requests();
                    }
                }
                Flush();
            }
            while ((_again || _resume) && !_socket.IsClosed && ++rounds < 4);
            if (_resume && !_socket.IsClosed)
            {
                QueueFlush(); // the budget is spent: the requests still buffered go on next poll
            }
        }
        finally
        {
            _pumping = false;
        }
        MaybeFinish();
    }

    // ------------------------------------------------------------------ input

    /// <summary>Reads more into the receive buffer: bytes read, 0 when none are ready, or
    /// -1 at end of stream or a reset (input ends; what is in flight still finishes).</summary>
    private int Fill()
    {
        if (_inStart == _inEnd)
        {
            _inStart = _inEnd = 0;
        }
        else if (_inEnd == _in.Length)
        {
            Buffer.BlockCopy(_in, _inStart, _in, 0, _inEnd - _inStart);
            _inEnd -= _inStart;
            _inStart = 0;
        }
        if (_inEnd == _in.Length)
        {
            return 0;
        }
        int n = _socket.Receive(_in.AsSpan(_inEnd));
        if (n > 0)
        {
            _inEnd += n;
            return n;
        }
        if (n == -Errno.EAGAIN || n == -Errno.EINTR)
        {
            return 0;
        }
        _draining = true;
        return -1;
    }

    private ReadOnlySpan<byte> Buffered => _in.AsSpan(_inStart, _inEnd - _inStart);

    private void Negotiate()
    {
        NbdHandshake hs = _handshake!;
        for (int reads = 0; reads < ReceivesPerPoll;)
        {
            if (hs.Output.WrittenCount - _handshakeSent > MaxHandshakeOutput)
            {
                return; // the client reads its replies first
            }
            NbdHandshakeStep step = hs.Step(Buffered, out int consumed);
            _inStart += consumed;
            switch (step)
            {
                case NbdHandshakeStep.NeedMore:
                    reads++;
                    if (Fill() <= 0)
                    {
                        return;
                    }
                    break;
                case NbdHandshakeStep.Continue:
                    break;
                case NbdHandshakeStep.Close:
                    Log.Info($"nbd: connection closed during the handshake: {hs.CloseReason}");
                    _draining = true; // the replies so far go out first
                    return;
                case NbdHandshakeStep.Transmission:
                    _structured = hs.Structured;
                    _metaContext = hs.MetaContext;
                    _handshake = null; // its output stays until sent (Flush sends it first)
                    _pendingHandshake = hs;
                    return;
            }
        }
    }

    /// <summary>Once transmission starts the handshake object only holds unsent replies.</summary>
    private NbdHandshake? _pendingHandshake;

    private void Requests()
    {
        int reads = 0;
        for (int handled = 0; handled < RequestsPerPoll && !_draining && !_socket.IsClosed;)
        {
            if (_skip > 0)
            {
                int n = (int)Math.Min(_skip, (ulong)(_inEnd - _inStart));
                _inStart += n;
                _skip -= (ulong)n;
                if (_skip > 0 && (++reads > ReceivesPerPoll || Fill() <= 0))
                {
                    return;
                }
                continue;
            }
            if (_payload != null)
            {
                if (!ReceivePayload(ref reads))
                {
                    return;
                }
                handled++;
                continue;
            }
            NbdParse p = NbdWire.ParseRequest(Buffered, out NbdRequest r);
            if (p == NbdParse.NeedMore)
            {
                if (++reads > ReceivesPerPoll || Fill() <= 0)
                {
                    return;
                }
                continue;
            }
            if (p == NbdParse.Malformed)
            {
                Abort("a request without the request magic");
                return;
            }
            if (!Start(r))
            {
                return;
            }
            handled++;
        }
    }

    /// <summary>Takes one request whose header is buffered. False when it must wait for a
    /// free slot or buffers (the header stays buffered), or the connection ended.</summary>
    private bool Start(NbdRequest r)
    {
        uint error = NbdRequestCheck.Check(r, _geometry, _structured, _metaContext);
        if (r.Type == NbdProtocol.CmdDisc && error == 0)
        {
            _inStart += NbdProtocol.RequestHeaderBytes;
            _draining = true; // soft disconnect: what is in flight is answered, then close
            return false;
        }
        if (error != 0 && r.Type == NbdProtocol.CmdWrite && r.Length > MaxSkippedPayload)
        {
            Abort($"a write of {r.Length} bytes (at most {_geometry.MaxPayloadBytes})");
            return false;
        }
        bool data = error == 0 && (r.Type == NbdProtocol.CmdRead || r.Type == NbdProtocol.CmdWrite);
        uint bytes = data ? r.Length : 0;
        if (!_buffers!.CanTake(_buffers.ChunksFor(bytes)))
        {
            _blocked = true;
            return false;
        }
        _inStart += NbdProtocol.RequestHeaderBytes;
        NbdSlot* s = _buffers.Take(bytes);
        s->Cookie = r.Cookie;
        s->Offset = r.Offset;
        s->Length = r.Length;
        s->Type = r.Type;
        s->Flags = r.Flags;
        if (error != 0)
        {
            if (r.Type == NbdProtocol.CmdWrite)
            {
                _skip = r.Length;
            }
            s->Error = error;
            Reply(s);
            return true;
        }
        if (r.Type == NbdProtocol.CmdWrite)
        {
            s->Stage = NbdSlot.Receiving;
            _payload = s;
            _payloadDone = 0;
            return true;
        }
        Submit(s);
        return true;
    }

    /// <summary>Moves a write's payload into its chunks: what is buffered is copied, the
    /// rest is received straight into them. True when the write went to the bdev.</summary>
    private bool ReceivePayload(ref int reads)
    {
        NbdSlot* s = _payload;
        int chunkBytes = _buffers!.ChunkBytes;
        while (_payloadDone < s->Length)
        {
            int chunk = (int)(_payloadDone / (uint)chunkBytes);
            int within = (int)(_payloadDone % (uint)chunkBytes);
            int room = (int)s->Iov[chunk].Length - within;
            var dst = new Span<byte>(s->Iov[chunk].Base + within, room);
            int buffered = _inEnd - _inStart;
            if (buffered > 0)
            {
                int n = Math.Min(buffered, room);
                _in.AsSpan(_inStart, n).CopyTo(dst);
                _inStart += n;
                _payloadDone += (uint)n;
                continue;
            }
            if (++reads > ReceivesPerPoll)
            {
                return false;
            }
            int got = _socket.Receive(dst);
            if (got > 0)
            {
                _payloadDone += (uint)got;
                continue;
            }
            if (got != -Errno.EAGAIN && got != -Errno.EINTR)
            {
                _draining = true; // the client went away mid-write
            }
            return false;
        }
        _payload = null;
        Submit(s);
        return true;
    }

    /// <summary>Ends the connection softly: no more requests are read; those in flight are
    /// answered, then the socket closes (what NBD_CMD_DISC does).</summary>
    internal void Drain(string reason)
    {
        if (_socket.IsClosed || _draining)
        {
            return;
        }
        Log.Info($"nbd: export '{_export?.Name}': {reason}; answering the requests in flight, then closing");
        _draining = true;
        Flush();
        MaybeFinish();
    }

    /// <summary>Draining, with replies or requests still out.</summary>
    public bool IsDraining => _draining && !_socket.IsClosed;

    /// <summary>Ends the connection at once (a hard disconnect) and releases what it can.</summary>
    internal void AbortAndFinish(string reason)
    {
        Abort(reason);
        MaybeFinish();
    }

    private void Abort(string reason)
    {
        Log.Info($"nbd: export '{_export?.Name}': {reason}; connection closed");
        CloseSocket();
    }
}
