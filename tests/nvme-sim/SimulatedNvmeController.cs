using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Nvme;
using NativeBdev.Nvme.Pcie;

namespace NativeBdev.Tests.Nvme;

/// <summary>An NVMe controller in memory, for host tests and the instruction-count
/// benchmark (this machine has no NVMe device): BAR0 is plain memory, a thread of its own
/// watches CC and the doorbells the way a device does, executes commands from the rings
/// (data through the PRPs, at IOVA = virtual address) and posts completions with the
/// phase tag. One namespace of 512-byte blocks. Faults on request: never ready, commands
/// swallowed (until aborted or the controller is disabled), fatal status, a namespace resize
/// announced with an asynchronous event. With <see cref="ManualIo"/>, I/O queues are served
/// only by <see cref="ProcessIo"/> on the caller's thread (the benchmark's doorbell double).</summary>
internal sealed unsafe class SimulatedNvmeController : PciFunction
{
    public const string Model = "NativeBdev Simulated NVMe";
    private const int MaxQueues = 65;
    private const int BarBytes = 0x2000;

    private struct Queue
    {
        public byte* Base;
        public int Size;
        public int Head;    // SQ: next entry to execute; CQ: unused
        public int Tail;    // CQ: next entry to post
        public int Phase;   // CQ
        public int CqId;    // SQ: its completion queue
        public bool Live;
    }

    private readonly Queue[] _sq = new Queue[MaxQueues];
    private readonly Queue[] _cq = new Queue[MaxQueues];
    private readonly byte[] _config = new byte[256];
    private byte* _data;
    private ulong _blocks;
    private readonly Thread _thread;
    private volatile bool _stop;
    private bool _enabled;
    private bool _shutdown;
    private int _aerCid = -1;
    private bool _aerPending;
    private long _resizeTo;
    private readonly List<(int Sq, ushort Cid)> _swallowed = new();
    private readonly byte[] _nguid = Guid.NewGuid().ToByteArray();

    public bool NeverReady;
    private volatile bool _manualIo;
    public bool ManualIo { get => _manualIo; set => _manualIo = value; }
    /// <summary>Read/write commands to swallow (never complete) from now on.</summary>
    public int SwallowIo;
    /// <summary>Abort commands find nothing (the command stays lost until a reset).</summary>
    public bool IgnoreAborts;
    public int MaxTransferShift = 5; // MDTS: 128 KiB
    public int EnableCount, ShutdownCount, AbortCount, AbortRequests, DisableCount;
    public long IoCommands;

    public override string Mode => "sim";
    public override IovaMode IovaMode => IovaMode.Va;

    public SimulatedNvmeController(string address, ulong blocks) : base(address)
    {
        Bar0 = (byte*)NativeMemory.AlignedAlloc(BarBytes, 4096);
        NativeMemory.Clear(Bar0, BarBytes);
        Bar0Size = BarBytes;
        _blocks = blocks;
        _data = (byte*)NativeMemory.AllocZeroed((nuint)(blocks * 512));
        // CAP: MQES 1023, contiguous queues required, TO 2 s, DSTRD 0, NVM command set, 4 KiB pages.
        *(ulong*)Bar0 = 1023 | 1UL << 16 | 4UL << 24 | 1UL << 37;
        *(uint*)(Bar0 + NvmeSpec.RegVs) = 0x10400;
        _thread = new Thread(Run) { IsBackground = true, Name = "nvme-sim " + address };
        _thread.Start();
    }

    public ulong Blocks => Volatile.Read(ref _blocks);

    /// <summary>Makes namespace 1 inactive (a namespace detach) and announces it.</summary>
    public void DetachNamespace()
    {
        _detached = true;
        _aerPendingRequest = 1;
    }

    private volatile bool _detached;
    private int _aerPendingRequest;

    /// <summary>Grows the namespace and announces it (namespace attribute changed event).</summary>
    public void Resize(ulong blocks) => Volatile.Write(ref _resizeTo, (long)blocks);

    public void RaiseFatal() => Reg(NvmeSpec.RegCsts) |= NvmeSpec.CstsFatal;

    /// <summary>The namespace's bytes [offset, offset + length): what the medium holds.</summary>
    public Span<byte> Medium(long offset, int length) => new(_data + offset, length);

    public override int ReadConfig(int offset, void* buf, int len)
    {
        new ReadOnlySpan<byte>(_config, offset, len).CopyTo(new Span<byte>(buf, len));
        return 0;
    }

    public override int WriteConfig(int offset, void* buf, int len)
    {
        new ReadOnlySpan<byte>(buf, len).CopyTo(new Span<byte>(_config, offset, len));
        return 0;
    }

    public bool BusMaster => (_config[PciFunction.ConfigCommand] & PciFunction.CommandBusMaster) != 0;

    public override void Dispose()
    {
        _stop = true;
        _thread.Join();
        NativeMemory.AlignedFree(Bar0);
        NativeMemory.Free(_data);
        Bar0 = null;
        _data = null;
    }

    private ref uint Reg(int offset) => ref *(uint*)(Bar0 + offset);
    private uint Doorbell(int index) => Volatile.Read(ref *(uint*)(Bar0 + NvmeSpec.DoorbellBase + 4 * index));

    private void Run()
    {
        while (!_stop)
        {
            bool busy = Step();
            if (!busy)
            {
                if (ManualIo)
                {
                    Thread.Sleep(1);
                }
                else
                {
                    Thread.Yield();
                }
            }
        }
    }

    private bool Step()
    {
        uint cc = Volatile.Read(ref Reg(NvmeSpec.RegCc));
        bool en = (cc & NvmeSpec.CcEnable) != 0;
        if (en && !_enabled && !NeverReady)
        {
            // Doorbell writes while disabled are ignored, as QEMU's controller ignores them:
            // a host thread that rang after CC.EN=0 must not leave a stale tail behind.
            new Span<byte>(Bar0 + NvmeSpec.DoorbellBase, BarBytes - NvmeSpec.DoorbellBase).Clear();
            uint aqa = Reg(NvmeSpec.RegAqa);
            _sq[0] = new Queue
            {
                Base = (byte*)*(ulong*)(Bar0 + NvmeSpec.RegAsq), Size = (int)(aqa & 0xFFF) + 1, Live = true,
            };
            _cq[0] = new Queue
            {
                Base = (byte*)*(ulong*)(Bar0 + NvmeSpec.RegAcq), Size = (int)((aqa >> 16) & 0xFFF) + 1, Phase = 1,
                Live = true,
            };
            _enabled = true;
            EnableCount++;
            Volatile.Write(ref Reg(NvmeSpec.RegCsts), NvmeSpec.CstsReady);
        }
        else if (!en && _enabled)
        {
            _enabled = false;
            DisableCount++;
            Array.Clear(_sq);
            Array.Clear(_cq);
            _swallowed.Clear();
            _aerCid = -1;
            // A reset clears the doorbells.
            new Span<byte>(Bar0 + NvmeSpec.DoorbellBase, BarBytes - NvmeSpec.DoorbellBase).Clear();
            Volatile.Write(ref Reg(NvmeSpec.RegCsts), 0u);
        }
        else if (!en && (Reg(NvmeSpec.RegCsts) & NvmeSpec.CstsFatal) != 0)
        {
            Volatile.Write(ref Reg(NvmeSpec.RegCsts), 0u);
        }
        if ((cc & NvmeSpec.CcShnMask) == 0)
        {
            _shutdown = false;
        }
        else if (!_shutdown)
        {
            _shutdown = true;
            ShutdownCount++;
            Volatile.Write(ref Reg(NvmeSpec.RegCsts), Reg(NvmeSpec.RegCsts) | NvmeSpec.CstsShstComplete);
        }
        if (!_enabled)
        {
            return false;
        }
        if (Interlocked.Exchange(ref _aerPendingRequest, 0) != 0)
        {
            _aerPending = true;
        }
        long resize = Interlocked.Exchange(ref _resizeTo, 0);
        if (resize != 0)
        {
            ApplyResize((ulong)resize);
        }
        if (_aerPending && _aerCid >= 0)
        {
            _aerPending = false;
            Post(0, 0, (ushort)_aerCid, 0, 0,
                NvmeSpec.AsyncEventTypeNotice | (uint)NvmeSpec.LogChangedNamespaces << 16);
            _aerCid = -1;
        }
        bool busy = ProcessSq(0);
        if (!ManualIo)
        {
            busy |= ProcessIo() > 0;
        }
        return busy;
    }

    /// <summary>Executes every command the I/O submission doorbells show; returns how many.</summary>
    public int ProcessIo()
    {
        int n = 0;
        for (int q = 1; q < MaxQueues; q++)
        {
            if (_sq[q].Live)
            {
                int before = _sq[q].Head;
                ProcessSq(q);
                n += (_sq[q].Head - before + _sq[q].Size) % _sq[q].Size;
            }
        }
        return n;
    }

    private bool ProcessSq(int q)
    {
        ref Queue sq = ref _sq[q];
        if (!sq.Live)
        {
            return false;
        }
        int tail = (int)Doorbell(2 * q);
        if (tail >= sq.Size)
        {
            return false;
        }
        bool any = false;
        while (sq.Live && sq.Head != tail)
        {
            NvmeCommand cmd = *(NvmeCommand*)(sq.Base + sq.Head * 64);
            sq.Head = (sq.Head + 1) % sq.Size;
            any = true;
            if (q == 0)
            {
                Admin(cmd);
            }
            else
            {
                Io(q, cmd);
            }
        }
        return any;
    }

    private void Post(int cq, int sq, ushort cid, int sct, int sc, uint dw0 = 0)
    {
        ref Queue c = ref _cq[cq];
        if (!c.Live)
        {
            return;
        }
        var e = (NvmeCompletion*)(c.Base + c.Tail * 16);
        e->Dw0 = dw0;
        e->Dw1 = 0;
        e->SqHead = (ushort)_sq[sq].Head;
        e->SqId = (ushort)sq;
        e->Cid = cid;
        Volatile.Write(ref e->Status, (ushort)(c.Phase | sc << 1 | sct << 9));
        if (++c.Tail == c.Size)
        {
            c.Tail = 0;
            c.Phase ^= 1;
        }
    }

    /// <summary>Copies between <paramref name="buf"/> and host memory described by the
    /// command's PRPs (entries are host virtual addresses: IOVA = VA).</summary>
    private static bool Transfer(in NvmeCommand cmd, byte* buf, int len, bool toHost)
    {
        static void Copy(byte* buf, ulong host, int n, bool toHost)
        {
            if (toHost)
            {
                Buffer.MemoryCopy(buf, (void*)host, n, n);
            }
            else
            {
                Buffer.MemoryCopy((void*)host, buf, n, n);
            }
        }
        if (cmd.Prp1 == 0)
        {
            return false;
        }
        int done = Math.Min(4096 - (int)(cmd.Prp1 & 4095), len);
        Copy(buf, cmd.Prp1, done, toHost);
        if (done == len)
        {
            return true;
        }
        if (len - done <= 4096)
        {
            // Two entries: PRP2 is the second page itself.
            if (cmd.Prp2 == 0 || (cmd.Prp2 & 4095) != 0)
            {
                return false;
            }
            Copy(buf + done, cmd.Prp2, len - done, toHost);
            return true;
        }
        ulong* list = (ulong*)cmd.Prp2;
        for (int i = 0; done < len; i++)
        {
            ulong entry = list[i];
            if (entry == 0 || (entry & 4095) != 0)
            {
                return false;
            }
            int n = Math.Min(4096, len - done);
            Copy(buf + done, entry, n, toHost);
            done += n;
        }
        return true;
    }

    private void Admin(in NvmeCommand cmd)
    {
        uint dw0 = 0;
        int sct = 0, sc = 0;
        switch (cmd.Opcode)
        {
            case NvmeSpec.AdminIdentify:
                sc = Identify(cmd);
                break;
            case NvmeSpec.AdminSetFeatures:
                if ((cmd.Cdw10 & 0xFF) == NvmeSpec.FeatureNumberOfQueues)
                {
                    dw0 = (MaxQueues - 2) | (uint)(MaxQueues - 2) << 16;
                }
                break;
            case NvmeSpec.AdminGetFeatures:
                break;
            case NvmeSpec.AdminCreateIoCq:
            {
                int qid = (int)(cmd.Cdw10 & 0xFFFF);
                if (qid == 0 || qid >= MaxQueues || _cq[qid].Live)
                {
                    (sct, sc) = (1, 1);
                    break;
                }
                _cq[qid] = new Queue
                {
                    Base = (byte*)cmd.Prp1, Size = (int)(cmd.Cdw10 >> 16) + 1, Phase = 1, Live = true,
                };
                break;
            }
            case NvmeSpec.AdminCreateIoSq:
            {
                int qid = (int)(cmd.Cdw10 & 0xFFFF), cq = (int)(cmd.Cdw11 >> 16);
                if (qid == 0 || qid >= MaxQueues || _sq[qid].Live || cq >= MaxQueues || !_cq[cq].Live)
                {
                    (sct, sc) = (1, 1);
                    break;
                }
                _sq[qid] = new Queue
                {
                    Base = (byte*)cmd.Prp1, Size = (int)(cmd.Cdw10 >> 16) + 1, CqId = cq, Live = true,
                };
                break;
            }
            case NvmeSpec.AdminDeleteIoSq:
                _sq[cmd.Cdw10 & 0xFFFF].Live = false;
                break;
            case NvmeSpec.AdminDeleteIoCq:
                _cq[cmd.Cdw10 & 0xFFFF].Live = false;
                break;
            case NvmeSpec.AdminAsyncEventRequest:
                _aerCid = cmd.Cid;
                return; // completes when an event happens
            case NvmeSpec.AdminGetLogPage:
            {
                int bytes = (int)((cmd.Cdw10 >> 16) + 1) * 4;
                byte* zero = stackalloc byte[4096];
                new Span<byte>(zero, 4096).Clear();
                Transfer(cmd, zero, Math.Min(bytes, 4096), toHost: true);
                break;
            }
            case NvmeSpec.AdminAbort:
            {
                int sq = (int)(cmd.Cdw10 & 0xFFFF);
                ushort cid = (ushort)(cmd.Cdw10 >> 16);
                dw0 = 1; // not aborted
                AbortRequests++;
                int at = IgnoreAborts ? -1 : _swallowed.IndexOf((sq, cid));
                if (at >= 0)
                {
                    _swallowed.RemoveAt(at);
                    Post(_sq[sq].CqId, sq, cid, NvmeSpec.SctGeneric, NvmeSpec.ScAbortedByRequest);
                    AbortCount++;
                    dw0 = 0;
                }
                break;
            }
            default:
                sc = NvmeSpec.ScInvalidOpcode;
                break;
        }
        Post(0, 0, cmd.Cid, sct, sc, dw0);
    }

    private int Identify(in NvmeCommand cmd)
    {
        byte* page = stackalloc byte[4096];
        var p = new Span<byte>(page, 4096);
        p.Clear();
        switch (cmd.Cdw10 & 0xFF)
        {
            case NvmeSpec.CnsController:
                System.Text.Encoding.ASCII.GetBytes("SIM0001".PadRight(20)).CopyTo(p[NvmeSpec.IdCtrlSerial..]);
                System.Text.Encoding.ASCII.GetBytes(Model.PadRight(40)).CopyTo(p[NvmeSpec.IdCtrlModel..]);
                System.Text.Encoding.ASCII.GetBytes("1.0".PadRight(8)).CopyTo(p[NvmeSpec.IdCtrlFirmware..]);
                page[NvmeSpec.IdCtrlMdts] = (byte)MaxTransferShift;
                page[NvmeSpec.IdCtrlSqes] = 0x66;
                page[NvmeSpec.IdCtrlCqes] = 0x44;
                *(uint*)(page + NvmeSpec.IdCtrlNn) = 1;
                *(ushort*)(page + NvmeSpec.IdCtrlOncs) = NvmeSpec.OncsDatasetManagement | NvmeSpec.OncsWriteZeroes;
                page[NvmeSpec.IdCtrlVwc] = 1;
                break;
            case NvmeSpec.CnsNamespace:
                if (cmd.Nsid == 1 && !_detached)
                {
                    *(ulong*)(page + NvmeSpec.IdNsSize) = _blocks;
                    *(ulong*)(page + 8) = _blocks;
                    *(ulong*)(page + 16) = _blocks;
                    *(uint*)(page + NvmeSpec.IdNsLbaf) = 9u << 16;
                    _nguid.CopyTo(p[NvmeSpec.IdNsNguid..]); // unique per simulated controller
                }
                break;
            case NvmeSpec.CnsActiveNamespaces:
                *(uint*)page = _detached ? 0u : 1u;
                break;
            default:
                return NvmeSpec.ScInvalidField;
        }
        return Transfer(cmd, page, 4096, toHost: true) ? 0 : 0x04;
    }

    private void ApplyResize(ulong blocks)
    {
        byte* data = (byte*)NativeMemory.AllocZeroed((nuint)(blocks * 512));
        ulong keep = Math.Min(blocks, _blocks) * 512;
        Buffer.MemoryCopy(_data, data, keep, keep);
        byte* old = _data;
        _data = data;
        Volatile.Write(ref _blocks, blocks);
        NativeMemory.Free(old);
        _aerPending = true;
    }

    private void Io(int q, in NvmeCommand cmd)
    {
        IoCommands++;
        int cq = _sq[q].CqId;
        ulong slba = cmd.Cdw10 | (ulong)cmd.Cdw11 << 32;
        int sc = 0;
        switch (cmd.Opcode)
        {
            case NvmeSpec.IoRead:
            case NvmeSpec.IoWrite:
            {
                if (SwallowIo > 0)
                {
                    SwallowIo--;
                    _swallowed.Add((q, cmd.Cid));
                    return;
                }
                ulong nlb = (cmd.Cdw12 & 0xFFFF) + 1UL;
                if (slba + nlb > _blocks)
                {
                    sc = NvmeSpec.ScLbaOutOfRange;
                    break;
                }
                if (nlb * 512 > (4096UL << MaxTransferShift))
                {
                    sc = NvmeSpec.ScInvalidField;
                    break;
                }
                if (!Transfer(cmd, _data + slba * 512, (int)(nlb * 512), toHost: cmd.Opcode == NvmeSpec.IoRead))
                {
                    sc = 0x13; // PRP offset invalid
                }
                break;
            }
            case NvmeSpec.IoFlush:
                break;
            case NvmeSpec.IoWriteZeroes:
            {
                ulong nlb = (cmd.Cdw12 & 0xFFFF) + 1UL;
                if (slba + nlb > _blocks)
                {
                    sc = NvmeSpec.ScLbaOutOfRange;
                    break;
                }
                new Span<byte>(_data + slba * 512, (int)(nlb * 512)).Clear();
                break;
            }
            case NvmeSpec.IoDatasetManagement:
            {
                ulong* range = (ulong*)cmd.Prp1;
                int ranges = (int)(cmd.Cdw10 & 0xFF) + 1;
                for (int i = 0; i < ranges; i++)
                {
                    ulong len = range[2 * i] >> 32, start = range[2 * i + 1];
                    if (start + len > _blocks)
                    {
                        sc = NvmeSpec.ScLbaOutOfRange;
                        break;
                    }
                    new Span<byte>(_data + start * 512, (int)(len * 512)).Clear();
                }
                break;
            }
            default:
                sc = NvmeSpec.ScInvalidOpcode;
                break;
        }
        Post(cq, q, cmd.Cid, 0, sc);
    }
}
