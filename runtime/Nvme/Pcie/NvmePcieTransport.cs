using System;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Pcie;

/// <summary>NVMe over PCIe (the register half of SPDK's nvme_pcie.c): properties are BAR0
/// registers read and written with volatile accesses, queues are rings in DMA memory with
/// doorbells in BAR0, data is described with PRPs, and an I/O queue becomes the
/// controller's through Create I/O Completion/Submission Queue admin commands.</summary>
internal sealed unsafe class NvmePcieTransport : INvmeTransport
{
    private readonly PciFunction _function;
    private readonly byte* _bar;
    private int _doorbellStride;

    public NvmePcieTransport(PciFunction function)
    {
        _function = function;
        _bar = function.Bar0;
    }

    public string Name => "pcie";
    public string Address => _function.Address;
    public string Mode => _function.Mode;
    public PciFunction Function => _function;

    private uint Read32(int offset) => Volatile.Read(ref *(uint*)(_bar + offset));

    private void Write32(int offset, uint value) => Volatile.Write(ref *(uint*)(_bar + offset), value);

    public int GetProperty32(int offset, out uint value)
    {
        value = Read32(offset);
        return 0;
    }

    public int GetProperty64(int offset, out ulong value)
    {
        value = Read32(offset) | ((ulong)Read32(offset + 4) << 32);
        if (offset == NvmeSpec.RegCap)
        {
            _doorbellStride = (int)((value >> 32) & 0xF); // CAP.DSTRD: where each queue's doorbells are
        }
        return 0;
    }

    public int SetProperty32(int offset, uint value)
    {
        Write32(offset, value);
        return 0;
    }

    public int SetProperty64(int offset, ulong value)
    {
        Write32(offset, (uint)value);
        Write32(offset + 4, (uint)(value >> 32));
        return 0;
    }

    public int StartDma() => _function.EnableBusMaster();

    public void StopDma() => _function.DisableBusMaster();

    public int CreateQueue(ushort qid, int entries, out NvmeTransportQueue? queue)
    {
        int rc = NvmePcieQueue.Create(qid, entries, _bar, _doorbellStride, out NvmePcieQueue? q);
        queue = q;
        return rc;
    }

    public int ConfigureAdminQueue(NvmeTransportQueue admin)
    {
        var q = (NvmePcieQueue)admin;
        Write32(NvmeSpec.RegAqa, (uint)((admin.Entries - 1) << 16 | (admin.Entries - 1)));
        SetProperty64(NvmeSpec.RegAsq, q.SqIova);
        SetProperty64(NvmeSpec.RegAcq, q.CqIova);
        return 0;
    }

    public void ConnectIoQueue(NvmeAdminQueue admin, NvmeTransportQueue queue, Action<int> done)
    {
        var q = (NvmePcieQueue)queue;
        // Physically contiguous (PC = 1), interrupts off: completions are polled.
        var cq = new NvmeCommand
        {
            Opcode = NvmeSpec.AdminCreateIoCq, Prp1 = q.CqIova,
            Cdw10 = (uint)(q.Entries - 1) << 16 | q.Id, Cdw11 = 1,
        };
        var sq = new NvmeCommand
        {
            Opcode = NvmeSpec.AdminCreateIoSq, Prp1 = q.SqIova,
            Cdw10 = (uint)(q.Entries - 1) << 16 | q.Id, Cdw11 = (uint)q.Id << 16 | 1,
        };
        admin.Submit(cq, NvmeData.None, (int rc, in NvmeCompletion _) =>
        {
            if (rc != 0)
            {
                done(rc);
                return;
            }
            admin.Submit(sq, NvmeData.None, (int rc2, in NvmeCompletion _) =>
            {
                if (rc2 == 0)
                {
                    done(0);
                    return;
                }
                var del = new NvmeCommand { Opcode = NvmeSpec.AdminDeleteIoCq, Cdw10 = q.Id };
                admin.Submit(del, NvmeData.None, (int _, in NvmeCompletion _) => done(rc2));
            });
        });
    }

    public void DisconnectIoQueue(NvmeAdminQueue admin, NvmeTransportQueue queue, Action<int> done)
    {
        var sq = new NvmeCommand { Opcode = NvmeSpec.AdminDeleteIoSq, Cdw10 = queue.Id };
        var cq = new NvmeCommand { Opcode = NvmeSpec.AdminDeleteIoCq, Cdw10 = queue.Id };
        admin.Submit(sq, NvmeData.None, (int rc, in NvmeCompletion _) =>
        {
            if (rc != 0)
            {
                done(rc);
                return;
            }
            admin.Submit(cq, NvmeData.None, (int rc2, in NvmeCompletion _) => done(rc2));
        });
    }

    public void Dispose() => _function.Dispose();
}
