using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Threading;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Net;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Tcp;
using NativeBdev.Reactor;

namespace NativeBdev.Targets.Nvmf;

/// <summary>One NVMe/TCP connection, one queue pair, on its poll group's thread (the target's
/// until Connect; an I/O queue then moves to the next group in turn): ICReq/ICResp,
/// then command capsules, each a request slot with its data in the connection's DMA chunks
/// (in-capsule, or asked for by an R2T and received from H2CData), executed as a fabrics,
/// admin or I/O command and answered in the order they complete. Bounded: a capsule waits in
/// the socket while no slot or buffer is free. A violation of the protocol ends this
/// connection only (with a C2HTermReq where the specification says so).</summary>
internal sealed unsafe partial class NvmfConnection : ISocketHandler
{
    private const int ReceiveBufferBytes = 64 << 10;
    private const int ReceivesPerPoll = 32;
    private const int PdusPerPoll = 256;
    private const ushort ScCommandSequenceError = 0x0C;
    private const ushort ScDataTransferError = 0x04;
    private const ushort ScDataSglLengthInvalid = 0x0F;
    private const ushort ScSglDescriptorTypeInvalid = 0x11;
    private const ushort ScInvalidNamespace = 0x0B;
    private const ushort ScInternalError = 0x06;

    private readonly NvmfTarget _target;
    private NetSocket _socket;
    private NvmfPollGroup _group;
    private NvmfPollGroup? _moveTo;   // set by an I/O queue's Connect: where it goes after this pump
    private readonly int _family;
    private readonly NvmfTransportOptions _options;
    private readonly byte[] _in = new byte[ReceiveBufferBytes];
    private int _inStart;
    private int _inEnd;
    private GCHandle _self;
    private NvmfBuffers? _buffers;

    // Negotiated by ICReq.
    private bool _initialized;
    private bool _headerDigest;
    private bool _dataDigest;

    // Set by Connect.
    private NvmfSubsystem? _subsystem;
    private NvmfController? _controller;
    private ushort _qid;
    private bool _connected;
    private ushort _sqHead;
    private ushort _sqSize;

    // The data PDU being received.
    private NvmfRequest* _rx;
    private uint _rxOffset;
    private uint _rxLeft;
    private bool _rxDigestFailed;
    private long _skip;           // data of a refused capsule still to discard

    private NvmfRequestQueue _sends = new();
    private NvmfRequestQueue _parked = new(); // waiting for a bdev_io
    private NvmfRequestQueue _bufferWait = new(); // waiting for chunks: R2T writes and reads
    private uint _sendOffset;
    private int _atBdev;
    private bool _blocked;        // a capsule waits for a slot or buffers
    private bool _resume;
    private bool _pumping;
    private bool _again;
    private bool _draining;       // no more input: finish what is in flight, then close
    private bool _disposed;
    private string? _closeReason;

    public NvmfConnection(NvmfTarget target, NetSocket socket, NvmfPollGroup group)
    {
        _target = target;
        _socket = socket;
        _family = socket.Family;
        _group = group;
        group.Joined();
        _options = target.Options;
        _self = GCHandle.Alloc(this);
        if (NvmfBuffers.Create(_options, GCHandle.ToIntPtr(_self), out _buffers) != 0)
        {
            Log.Warn($"nvmf: connection refused: {LastError.Message}");
            _draining = true;
        }
    }

    public bool IsClosed => _socket.IsClosed;

    public NvmfTarget Target => _target;

    /// <summary>The poll group (and thread) serving the connection now.</summary>
    public NvmfPollGroup Group => _group;

    public NvmfController? Controller => _controller;

    public ushort Qid => _qid;

    public NvmfSubsystem? Subsystem => _subsystem;

    public void OnReadable(NetSocket socket) => Pump();

    public void OnWritable(NetSocket socket) => Pump();

    /// <summary>Reads and handles PDUs, sends output, until neither makes progress or a
    /// budget is spent. Re-entered from a completion inside it, it runs again from the top.</summary>
    internal void Pump()
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
                if (!_bufferWait.IsEmpty && !_socket.IsClosed)
                {
                    GrantWaiting();
                }
                if (!_socket.IsClosed && !_draining)
                {
                    Receive();
                }
                Flush();
            }
            while ((_again || _resume) && !_socket.IsClosed && _moveTo == null && ++rounds < 4);
            if (_resume && !_socket.IsClosed)
            {
                QueueFlush();
            }
        }
        finally
        {
            _pumping = false;
        }
        MaybeFinish();
        if (_moveTo != null)
        {
            Move();
        }
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
        else if (_inEnd == _in.Length || _inStart > _in.Length / 2)
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
        _closeReason ??= n == 0 ? "the host closed the connection" : $"receive failed: {Libc.StrError(-n)}";
        _draining = true;
        return -1;
    }

    private int Buffered => _inEnd - _inStart;

    private ReadOnlySpan<byte> BufferedSpan => _in.AsSpan(_inStart, _inEnd - _inStart);

    private void Receive()
    {
        int reads = 0;
        for (int handled = 0; handled < PdusPerPoll && !_draining && !_socket.IsClosed && _moveTo == null;)
        {
            if (_skip > 0)
            {
                int n = (int)Math.Min(_skip, Buffered);
                _inStart += n;
                _skip -= n;
                if (_skip > 0 && (++reads > ReceivesPerPoll || Fill() <= 0))
                {
                    return;
                }
                continue;
            }
            if (_rx != null)
            {
                if (!ReceiveData(ref reads))
                {
                    return;
                }
                handled++;
                continue;
            }
            if (Buffered < NvmeTcpPdu.CommonHeaderBytes)
            {
                if (++reads > ReceivesPerPoll || Fill() <= 0)
                {
                    return;
                }
                continue;
            }
            NvmeTcpHeader h = NvmeTcpPdu.ReadCommonHeader(BufferedSpan);
            // Before Connect the queue is not known: its Connect data may be in the capsule.
            int maxInCapsule = !_connected || _qid == 0
                ? NvmfTransportOptions.AdminInCapsuleDataSize
                : _options.InCapsuleDataSize;
            if (NvmfPdu.Check(h, _initialized, _headerDigest, _dataDigest, maxInCapsule, (uint)_options.MaxIoSize,
                    out int headerBytes, out int dataBytes, out ushort fes, out uint fei) != 0)
            {
                Terminate(fes, fei, LastError.Message);
                return;
            }
            if (Buffered < headerBytes)
            {
                if (++reads > ReceivesPerPoll || Fill() <= 0)
                {
                    return;
                }
                continue;
            }
            ReadOnlySpan<byte> pdu = BufferedSpan[..headerBytes];
            if (_headerDigest && h.Type is NvmeTcpPduType.CapsuleCmd or NvmeTcpPduType.H2CData &&
                !NvmeTcpPdu.HeaderDigestMatches(pdu, h.Hlen))
            {
                Terminate(NvmeTcpPdu.FesHeaderDigestError, 0, $"{h.Type} with a bad header digest");
                return;
            }
            bool go = h.Type switch
            {
                NvmeTcpPduType.ICReq => ICReq(pdu),
                NvmeTcpPduType.H2CTermReq => TermReq(pdu, headerBytes + dataBytes),
                NvmeTcpPduType.CapsuleCmd => Capsule(pdu, headerBytes, dataBytes),
                _ => H2CData(pdu, headerBytes, dataBytes),
            };
            if (!go)
            {
                return;
            }
            handled++;
        }
    }

    private bool ICReq(ReadOnlySpan<byte> pdu)
    {
        ushort pfv = BinaryPrimitives.ReadUInt16LittleEndian(pdu[8..]);
        byte digests = pdu[11];
        if (pfv != 0)
        {
            Terminate(NvmeTcpPdu.FesInvalidHeaderField, 8, $"ICReq with PDU format version {pfv}");
            return false;
        }
        bool hd = (digests & NvmeTcpPdu.DigestHeaderEnable) != 0;
        bool dd = (digests & NvmeTcpPdu.DigestDataEnable) != 0;
        if ((hd || dd) && !_options.DigestsAllowed)
        {
            hd = dd = false; // the host may still go on without them (ICResp says which are on)
        }
        _inStart += NvmeTcpPdu.ICBytes;
        Span<byte> resp = stackalloc byte[NvmeTcpPdu.ICBytes];
        NvmeTcpPdu.WriteICResp(resp, 0, hd, dd, (uint)_options.MaxIoSize);
        if (_socket.Send(resp) != NvmeTcpPdu.ICBytes)
        {
            Close("ICResp could not be sent");
            return false;
        }
        _initialized = true;
        _headerDigest = hd;
        _dataDigest = dd;
        return true;
    }

    private bool TermReq(ReadOnlySpan<byte> pdu, int total)
    {
        (ushort fes, uint fei) = NvmeTcpPdu.ReadTermReq(pdu);
        _skip = total - pdu.Length;
        _inStart += pdu.Length;
        Close($"the host ended the connection: {NvmeTcpPdu.FesName(fes)} (field {fei})");
        return false;
    }

    /// <summary>A command capsule whose header is buffered. False when it must wait for a
    /// free slot or buffers (the header stays buffered).</summary>
    /// <remarks>Only a capsule carrying data waits in the stream for chunks, and only for
    /// commands at the bdev (which finish by themselves). A command whose data the stream does
    /// not carry — a write asked for by R2T, a read — takes a slot alone and waits in
    /// <see cref="_bufferWait"/>: holding up the stream instead would deadlock, as the H2CData
    /// of writes whose R2T went out may be behind this capsule, and those hold the chunks.
    /// Such grants leave <see cref="InCapsuleReserve"/> chunks for a capsule carrying data.</remarks>
    private bool Capsule(ReadOnlySpan<byte> pdu, int headerBytes, int dataBytes)
    {
        NvmeCommand cmd = NvmeTcpPdu.ReadCapsuleCmd(pdu);
        ushort status = DataLength(cmd, dataBytes, out uint length);
        uint take = status == 0 ? length : 0;
        bool wait = take > 0 && dataBytes == 0 &&
            (!_bufferWait.IsEmpty || !_buffers!.CanAttach(take, InCapsuleReserve));
        if (!_buffers!.CanTake(wait ? 0 : take))
        {
            _blocked = true;
            return false;
        }
        _inStart += headerBytes;
        NvmfRequest* r = _buffers.Take(wait ? 0 : take);
        r->Cmd = cmd;
        if (wait)
        {
            r->Length = take;
            r->Stage = NvmfRequest.AwaitingBuffers;
            _bufferWait.Push(_buffers, r);
            return true;
        }
        if (status != 0)
        {
            _skip = dataBytes + (dataBytes > 0 && _dataDigest ? NvmeTcpPdu.DigestBytes : 0);
            Complete(r, status);
            return true;
        }
        if (dataBytes > 0)
        {
            StartData(r, 0, (uint)dataBytes);
            return true;
        }
        if (NvmfCommandDirection.Of(cmd) == 1 && length > 0)
        {
            SendR2T(r);
            return true;
        }
        Execute(r);
        return true;
    }

    /// <summary>Chunks kept back from commands that wait for them: enough for the largest
    /// capsule with data (the admin queue's 8 KiB, or in_capsule_data_size).</summary>
    private int InCapsuleReserve => _buffers!.ChunksFor((uint)Math.Max(_options.InCapsuleDataSize,
        NvmfTransportOptions.AdminInCapsuleDataSize));

    /// <summary>Commands that waited for chunks get them in arrival order (a write its R2T, a
    /// read its execution) while chunks beyond the reserve are free.</summary>
    private void GrantWaiting()
    {
        while (!_bufferWait.IsEmpty)
        {
            NvmfRequest* r = _buffers!.Slot(_bufferWait.Head);
            uint bytes = r->Length;
            if (!_buffers.CanAttach(bytes, InCapsuleReserve))
            {
                return;
            }
            _bufferWait.Pop(_buffers);
            _buffers.Attach(r, bytes);
            if (NvmfCommandDirection.Of(r->Cmd) == 1)
            {
                SendR2T(r);
            }
            else
            {
                Execute(r);
            }
        }
    }

    /// <summary>The data a command moves, from its SGL (PSDT 01b, one descriptor: in-capsule
    /// at offset 0, or the transport's data block), checked against what the capsule carries
    /// and the transport's limits; 0 or the status to answer with.</summary>
    private ushort DataLength(in NvmeCommand cmd, int inCapsule, out uint length)
    {
        length = 0;
        int direction = NvmfCommandDirection.Of(cmd);
        if (direction == 0 && inCapsule == 0)
        {
            return 0;
        }
        if ((cmd.Flags & 0xC0) != NvmeTcpPdu.CommandFlagsSgl)
        {
            return Status(NvmeSpec.SctGeneric, NvmeSpec.ScInvalidField);
        }
        byte type = (byte)(cmd.Prp2 >> 56);
        length = (uint)cmd.Prp2;
        uint max = (uint)Math.Max(_options.MaxIoSize, NvmfTransportOptions.AdminInCapsuleDataSize);
        if (type == NvmeTcpPdu.SglDataBlockOffset)
        {
            if (cmd.Prp1 != 0 || length != (uint)inCapsule)
            {
                return Status(NvmeSpec.SctGeneric, ScDataSglLengthInvalid);
            }
        }
        else if (type != NvmeTcpPdu.SglTransportDataBlock || inCapsule != 0)
        {
            return Status(NvmeSpec.SctGeneric, ScSglDescriptorTypeInvalid);
        }
        if (length > max || (direction == 0 && length != 0))
        {
            return Status(NvmeSpec.SctGeneric, ScDataSglLengthInvalid);
        }
        return 0;
    }

    private bool H2CData(ReadOnlySpan<byte> pdu, int headerBytes, int dataBytes)
    {
        NvmeTcpDataFields f = NvmeTcpPdu.ReadDataFields(pdu);
        NvmfRequest* r = f.Ttag < _buffers!.SlotCount ? _buffers.Slot(f.Ttag) : null;
        if (r == null || r->Stage != NvmfRequest.AwaitingR2TData || r->Cmd.Cid != f.Cid)
        {
            Terminate(NvmeTcpPdu.FesInvalidHeaderField, 10,
                $"H2CData for command {f.Cid} with transfer tag {f.Ttag}, which no R2T gave");
            return false;
        }
        if (f.Offset != r->Received || f.Length != (uint)dataBytes || (ulong)f.Offset + f.Length > r->Length)
        {
            Terminate(NvmeTcpPdu.FesDataOutOfRange, 12,
                $"H2CData of {f.Length} bytes at {f.Offset} for command {f.Cid} ({r->Received} of {r->Length} " +
                "received)");
            return false;
        }
        _inStart += headerBytes;
        StartData(r, f.Offset, (uint)dataBytes);
        return true;
    }

    private void StartData(NvmfRequest* r, uint offset, uint bytes)
    {
        r->Stage = NvmfRequest.ReceivingData;
        r->DataCrc = ~0u;
        _rx = r;
        _rxOffset = offset;
        _rxLeft = bytes;
    }

    /// <summary>Moves a PDU's data into its request's chunks: what is buffered is copied, the
    /// rest received straight into them; then its digest. True when the PDU is done.</summary>
    private bool ReceiveData(ref int reads)
    {
        NvmfRequest* r = _rx;
        int chunkBytes = _buffers!.ChunkBytes;
        while (_rxLeft > 0)
        {
            int chunk = (int)(_rxOffset / (uint)chunkBytes);
            int within = (int)(_rxOffset % (uint)chunkBytes);
            int room = (int)Math.Min((uint)r->Iov[chunk].Length - (uint)within, _rxLeft);
            var dst = new Span<byte>(r->Iov[chunk].Base + within, room);
            int n;
            if (Buffered > 0)
            {
                n = Math.Min(Buffered, room);
                _in.AsSpan(_inStart, n).CopyTo(dst);
                _inStart += n;
            }
            else
            {
                if (++reads > ReceivesPerPoll)
                {
                    return false;
                }
                n = _socket.Receive(dst);
                if (n <= 0)
                {
                    if (n != -Errno.EAGAIN && n != -Errno.EINTR)
                    {
                        _closeReason ??= "the host went away in the middle of a data PDU";
                        _draining = true;
                    }
                    return false;
                }
            }
            if (_dataDigest)
            {
                r->DataCrc = Crc32c.Update(r->DataCrc, dst[..n]);
            }
            _rxOffset += (uint)n;
            _rxLeft -= (uint)n;
            r->Received += (uint)n;
        }
        if (_dataDigest)
        {
            if (Buffered < NvmeTcpPdu.DigestBytes)
            {
                if (++reads > ReceivesPerPoll || Fill() <= 0)
                {
                    return false;
                }
                if (Buffered < NvmeTcpPdu.DigestBytes)
                {
                    return false;
                }
            }
            if (BinaryPrimitives.ReadUInt32LittleEndian(BufferedSpan) != ~r->DataCrc)
            {
                _rxDigestFailed = true;
            }
            _inStart += NvmeTcpPdu.DigestBytes;
        }
        _rx = null;
        if (r->Received < r->Length)
        {
            r->Stage = NvmfRequest.AwaitingR2TData; // more H2CData for the same R2T
            return true;
        }
        if (_rxDigestFailed)
        {
            // The command fails, the connection stays: the host retries it.
            _rxDigestFailed = false;
            Log.Info($"nvmf: {Describe()}: data digest error in command {r->Cmd.Cid}'s data");
            Complete(r, Status(NvmeSpec.SctGeneric, ScDataTransferError));
            return true;
        }
        Execute(r);
        return true;
    }

    // ------------------------------------------------------------------ commands

    private void Execute(NvmfRequest* r)
    {
        r->Stage = NvmfRequest.Executing;
        _controller?.Touch();
        if (r->Cmd.Opcode == NvmfCommandDirection.FabricsOpcode)
        {
            Fabrics(r);
        }
        else if (!_connected)
        {
            Log.Info($"nvmf: {Describe()}: command 0x{r->Cmd.Opcode:x2} before Connect; connection closed");
            Complete(r, Status(NvmeSpec.SctGeneric, ScCommandSequenceError));
            _closeReason = "a command before Connect";
            _draining = true;
        }
        else if (_qid == 0)
        {
            Admin(r);
        }
        else
        {
            Io(r);
        }
    }

    /// <summary>A CQE status field (without the phase bit): SC and SCT, DNR for errors a
    /// retry cannot fix.</summary>
    internal static ushort Status(int sct, int sc, bool dnr = true) =>
        (ushort)((sc << 1) | (sct << 9) | (dnr && (sc != 0 || sct != 0) ? 0x8000 : 0));

    internal string Describe() =>
        _controller == null
            ? $"connection {_socket.Fd}"
            : $"controller {_controller.Cntlid} of '{_controller.Subsystem.Nqn}' (host {_controller.HostNqn}) " +
              $"queue {_qid}";

    // ------------------------------------------------------------------ ending

    /// <summary>Sends a C2HTermReq naming what was wrong and closes (NVMe/TCP 1.0, 3.6.2.3:
    /// a fatal transport error ends the connection).</summary>
    private void Terminate(ushort fes, uint fei, string why)
    {
        Log.Info($"nvmf: {Describe()}: {why}; connection terminated");
        Span<byte> term = stackalloc byte[NvmeTcpPdu.TermReqHeaderBytes + 128];
        int copy = Math.Min(Buffered, 128);
        term.Clear();
        NvmeTcpPdu.WriteCommonHeader(term, NvmeTcpPduType.C2HTermReq, 0, NvmeTcpPdu.TermReqHeaderBytes, 0,
            (uint)(NvmeTcpPdu.TermReqHeaderBytes + copy));
        BinaryPrimitives.WriteUInt16LittleEndian(term[8..], fes);
        BinaryPrimitives.WriteUInt32LittleEndian(term[10..], fei);
        BufferedSpan[..copy].CopyTo(term[NvmeTcpPdu.TermReqHeaderBytes..]);
        if (_sends.IsEmpty && _sendOffset == 0)
        {
            _socket.Send(term[..(NvmeTcpPdu.TermReqHeaderBytes + copy)]);
        }
        Close(why);
    }

    /// <summary>Closes the socket now; commands at the bdev finish later and are dropped,
    /// then the connection's resources go (<see cref="MaybeFinish"/>). A controller's admin
    /// connection takes the controller (and its I/O queues) with it.</summary>
    internal void Close(string reason)
    {
        if (_socket.IsClosed)
        {
            return;
        }
        _socket.Close();
        Shut(reason);
    }

    /// <summary>What closing does besides the socket (which is closed, or was lost in a move).</summary>
    private void Shut(string reason)
    {
        _closeReason ??= reason;
        _draining = true;
        while (!_sends.IsEmpty)
        {
            NvmfRequest* r = _sends.Pop(_buffers!);
            _buffers!.Return(r);
        }
        while (!_bufferWait.IsEmpty)
        {
            _buffers!.Return(_bufferWait.Pop(_buffers));
        }
        _sendOffset = 0;
        if (_rx != null)
        {
            _buffers!.Return(_rx);
            _rx = null;
        }
        Detach();
    }

    private void Detach()
    {
        NvmfController? c = _controller;
        if (c == null)
        {
            return;
        }
        if (_qid == 0)
        {
            foreach (int slot in c.WaitingAers)
            {
                _buffers!.Return(_buffers.Slot(slot));
            }
            c.DropIoQueues($"its admin queue closed ({_closeReason})");
            c.Subsystem.RemoveController(c);
            Log.Info($"nvmf: controller {c.Cntlid} of '{c.Subsystem.Nqn}' (host {c.HostNqn}) ended: {_closeReason}");
        }
        else if (_target.Thread.IsCurrent)
        {
            DetachIo();
        }
        else if (_target.Thread.Send(&DetachThunk, this) != 0)
        {
            Log.Warn($"nvmf: {Describe()} ended after the target's thread went");
        }
    }

    private static void DetachThunk(object? o, nint _) => ((NvmfConnection)o!).DetachIo();

    /// <summary>On the target's thread: the controller forgets this I/O queue (unless it did
    /// already, and a new one took the QID).</summary>
    private void DetachIo()
    {
        NvmfController c = _controller!;
        if (_qid <= c.IoQueues.Length && c.IoQueues[_qid - 1] == this)
        {
            c.IoQueues[_qid - 1] = null;
        }
    }

    /// <summary>From any thread: the connection closes on its own.</summary>
    internal void CloseAnywhere(string reason)
    {
        if (_group.Thread.IsCurrent)
        {
            Close(reason);
            MaybeFinish();
            return;
        }
        var m = new CloseMessage(this, reason);
        if (_group.Thread.Send(&CloseThunk, m) != 0)
        {
            Log.Warn($"nvmf: {Describe()}: thread '{_group.Thread.Name}' takes no messages; not closed");
        }
    }

    private sealed class CloseMessage(NvmfConnection c, string reason)
    {
        public readonly NvmfConnection Connection = c;
        public readonly string Reason = reason;
    }

    private static void CloseThunk(object? o, nint _)
    {
        var m = (CloseMessage)o!;
        m.Connection.Close(m.Reason);
        m.Connection.MaybeFinish();
    }

    // ------------------------------------------------------------------ moving to a poll group

    /// <summary>An I/O queue just connected goes to its poll group's thread: the descriptor
    /// leaves this thread's socket group and joins that one's, by message; what was read
    /// already (in the receive buffer) and what waits to be sent go with the connection.
    /// Nothing of it is at a bdev yet, so no completion can arrive here after.</summary>
    private void Move()
    {
        NvmfPollGroup to = _moveTo!;
        _moveTo = null;
        if (_socket.IsClosed || _disposed || _atBdev > 0 || to == _group)
        {
            return;
        }
        NvmfPollGroup from = _group;
        from.Forget(this);
        _flushQueued = false;
        int fd = _socket.Release();
        from.Left();
        _group = to;
        if (to.Thread.Send(&ArriveThunk, this, fd) != 0)
        {
            Log.Warn($"nvmf: {Describe()}: poll group thread '{to.Thread.Name}' takes no messages; served here");
            _group = from;
            Arrive(fd);
        }
    }

    private static void ArriveThunk(object? o, nint fd) => ((NvmfConnection)o!).Arrive((int)fd);

    private void Arrive(int fd)
    {
        _group.Joined();
        if (NetSocket.Adopt(fd, _family, _ => this, out NetSocket? socket) != 0)
        {
            Log.Warn($"nvmf: {Describe()} lost moving to poll group '{_group.Name}': {LastError.Message}");
            Shut("lost moving to its poll group");
            MaybeFinish();
            return;
        }
        _socket = socket!;
        Interlocked.Increment(ref _group.IoQpairs);
        Interlocked.Increment(ref _group.CurrentIoQpairs);
        _countedIo = true;
        Pump();
    }

    private bool _countedIo;

    /// <summary>A draining connection closes once nothing is in flight and every response
    /// went out; a closed one releases its channels and buffers once the bdev gave back
    /// every command.</summary>
    internal void MaybeFinish()
    {
        if (_pumping || _disposed)
        {
            return;
        }
        if (!_socket.IsClosed && _draining && _atBdev == 0 && _sends.IsEmpty)
        {
            Close(_closeReason ?? "draining");
        }
        if (!_socket.IsClosed || _atBdev > 0)
        {
            return;
        }
        _disposed = true;
        if (_countedIo)
        {
            Interlocked.Decrement(ref _group.CurrentIoQpairs);
        }
        else if (_connected && _qid == 0)
        {
            Interlocked.Decrement(ref _group.CurrentAdminQpairs);
        }
        ReleaseChannels();
        _buffers?.Dispose();
        _buffers = null;
        if (_self.IsAllocated)
        {
            _self.Free();
        }
        _group.Left();
        _target.Closed(this);
    }
}
