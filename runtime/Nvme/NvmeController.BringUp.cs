using System;
using System.Text;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>Bring-up (SPDK's nvme_ctrlr_process_init): capabilities, disable, the admin
/// queue, enable, identify the controller, the number of queues and the asynchronous events
/// the driver handles, then the namespaces.</summary>
internal sealed unsafe partial class NvmeController
{
    /// <summary>Capabilities and memory, then the bring-up sequence on the admin poll,
    /// which the caller (nb_bdev_create's thread) waits for: 0 or -errno with the message.</summary>
    private int BringUp()
    {
        int rc = Transport.StartDma();
        if (rc != 0)
        {
            return rc;
        }
        Transport.GetProperty64(NvmeSpec.RegCap, out ulong cap);
        Cap = cap;
        if (Cap == ulong.MaxValue)
        {
            return LastError.Set(Errno.EIO, $"NVMe controller {Address} does not respond (CAP reads all ones)");
        }
        Version = Property32(NvmeSpec.RegVs);
        ReadyTimeoutMs = Math.Max(500, (int)((Cap >> 24) & 0xFF) * 500);
        int mqes = (int)(Cap & 0xFFFF) + 1;
        if (((Cap >> 48) & 0xF) != 0)
        {
            return LastError.Set(Errno.ENOTSUP, $"NVMe controller {Address}: its smallest memory page is " +
                $"{4096 << (int)((Cap >> 48) & 0xF)} bytes; only 4 KiB pages are supported");
        }
        if (((Cap >> 37) & 1) == 0)
        {
            return LastError.Set(Errno.ENOTSUP, $"NVMe controller {Address} does not support the NVM command set");
        }
        IoQueueEntries = Math.Min(Math.Min(mqes, MaxIoQueueEntries), Transport.IoQueueEntriesLimit);
        DmaPool? pool = NbEnvironment.Dma;
        if (pool == null)
        {
            return NbEnvironment.NotInitialized();
        }
        _identifyBuffer = (byte*)pool.Alloc(NvmeSpec.PageSize, NvmeSpec.PageSize, zero: true);
        if (_identifyBuffer == null)
        {
            return LastError.Set(Errno.ENOMEM, "no DMA memory for the identify buffer");
        }
        if ((rc = Transport.CreateQueue(0, AdminQueueEntries, out _adminQueue)) != 0)
        {
            return rc;
        }
        _admin = new NvmeAdminQueue(Address, _adminQueue!, CommandTimeoutTicks);

        var seq = new NvmeSequence("bring-up");
        AddEnableSteps(seq);
        seq.Then("identify controller", Command(seq,
                () => new NvmeCommand { Opcode = NvmeSpec.AdminIdentify, Cdw10 = NvmeSpec.CnsController },
                NvmeData.Flat(_identifyBuffer, NvmeSpec.PageSize)))
            .Then("read identify", () =>
            {
                int rc = ReadIdentify();
                return rc == 0 ? StepResult.Next : seq.Fail(rc);
            });
        AddConfigureSteps(seq);
        AddScanSteps(seq);
        seq.Then("ready", () =>
        {
            Volatile.Write(ref _state, (int)NvmeControllerState.Ready);
            return StepResult.Next;
        });
        _sequence = seq;
        using var finished = new ManualResetEventSlim(false);
        seq.OnDone(_ => finished.Set());
        _thread = new Thread(AdminThread) { IsBackground = true, Name = "nvme-admin " + Address };
        _thread.Start();
        finished.Wait();
        if (seq.Status != 0)
        {
            StopAdminThread();
            StopDma();
            return LastError.Set(-seq.Status, seq.Message);
        }
        Log.Notice($"nvme {Address}: '{Model}' serial '{Serial}' firmware '{Firmware}', {NamespaceTotal} " +
            $"namespace(s), {MaxIoQueues} I/O queues of {IoQueueEntries} entries, max transfer " +
            $"{MaxTransferBytes / 1024} KiB, via {Mode}");
        return 0;
    }

    /// <summary>CC.EN = 0 and CSTS.RDY = 0 (the controller drops every queue). A controller
    /// still becoming ready is waited for first: clearing EN before RDY is 1 is undefined
    /// (SPDK waits the same way).</summary>
    private void AddDisableSteps(NvmeSequence seq, bool tolerateTimeout)
    {
        var waitReady = WaitStatus(seq, NvmeSpec.CstsReady | NvmeSpec.CstsFatal, NvmeSpec.CstsReady,
            () => ReadyTimeoutMs, _ => "");
        var waitNotReady = WaitStatus(seq, NvmeSpec.CstsReady, 0, () => ReadyTimeoutMs, csts =>
            $"NVMe controller {Address} did not clear CSTS.RDY within {ReadyTimeoutMs} ms (CAP.TO) after " +
            $"CC.EN=0 (CSTS 0x{csts:x})");
        bool enabled = false;
        seq.Then("disable: is it enabled", () =>
            {
                enabled = (Property32(NvmeSpec.RegCc) & NvmeSpec.CcEnable) != 0;
                _disabled = !enabled;
                return StepResult.Next;
            })
            .Then("disable: wait for a controller becoming ready", () =>
            {
                if (!enabled || (Csts & NvmeSpec.CstsReady) != 0)
                {
                    return StepResult.Next;
                }
                StepResult r = waitReady();
                return r == StepResult.Again ? r : StepResult.Next; // no readiness: clear EN anyway
            })
            .Then("disable: clear CC.EN", () =>
            {
                if (enabled)
                {
                    Transport.SetProperty32(NvmeSpec.RegCc, Property32(NvmeSpec.RegCc) & ~NvmeSpec.CcEnable);
                }
                return StepResult.Next;
            })
            .Then("disable: wait for CSTS.RDY = 0", () =>
            {
                StepResult r = waitNotReady();
                if (r == StepResult.Next)
                {
                    _disabled = true;
                }
                return r == StepResult.Failed && tolerateTimeout ? StepResult.Next : r;
            });
    }

    /// <summary>Disable, program the admin queue, enable and wait for ready.</summary>
    private void AddEnableSteps(NvmeSequence seq)
    {
        // Again: a failed controller may have lost it. A fabric reconnects here, and answers
        // -EAGAIN while it waits between attempts (reconnect_delay_ms).
        seq.Then("start DMA", () =>
        {
            int rc = Transport.StartDma();
            return rc == -Errno.EAGAIN ? StepResult.Again : rc == 0 ? StepResult.Next : seq.Fail(rc);
        });
        AddDisableSteps(seq, tolerateTimeout: false);
        seq.Then("configure the admin queue", Do(seq, () =>
            {
                _admin!.Abandon(-Errno.ECANCELED);
                _aerArmed = false;
                _aerRefused = false;
                return Transport.ConfigureAdminQueue(_adminQueue!);
            }))
            .Then("enable", Do(seq, () =>
                Transport.SetProperty32(NvmeSpec.RegCc, NvmeSpec.CcEnable | NvmeSpec.CcIosqes | NvmeSpec.CcIocqes)))
            .Then("wait for CSTS.RDY = 1", WaitStatus(seq, NvmeSpec.CstsReady | NvmeSpec.CstsFatal,
                NvmeSpec.CstsReady, () => ReadyTimeoutMs, csts => (csts & NvmeSpec.CstsFatal) != 0 &&
                    csts != uint.MaxValue
                    ? $"NVMe controller {Address} reported a fatal status (CSTS.CFS) while enabling"
                    : $"NVMe controller {Address} did not become ready within {ReadyTimeoutMs} ms (CAP.TO) after " +
                      $"CC.EN=1 (CSTS 0x{csts:x})"));
    }

    private static string Text(byte* p, int len) => Encoding.ASCII.GetString(p, len).TrimEnd(' ', '\0');

    private int ReadIdentify()
    {
        byte* id = _identifyBuffer;
        Serial = Text(id + NvmeSpec.IdCtrlSerial, 20);
        Model = Text(id + NvmeSpec.IdCtrlModel, 40);
        Firmware = Text(id + NvmeSpec.IdCtrlFirmware, 8);
        int mdts = id[NvmeSpec.IdCtrlMdts];
        // One PRP list page holds 512 entries: with the first entry, at least 2 MiB.
        uint cap = 2u << 20;
        MaxTransferBytes = mdts == 0 || mdts > 9 ? cap : Math.Min(cap, (uint)NvmeSpec.PageSize << mdts);
        NamespaceCount = *(uint*)(id + NvmeSpec.IdCtrlNn);
        Oncs = *(ushort*)(id + NvmeSpec.IdCtrlOncs);
        VolatileWriteCache = (id[NvmeSpec.IdCtrlVwc] & 1) != 0;
        if ((id[NvmeSpec.IdCtrlSqes] & 0xF) > 6 || (id[NvmeSpec.IdCtrlCqes] & 0xF) > 4)
        {
            return LastError.Set(Errno.ENOTSUP,
                $"NVMe controller {Address} needs queue entries larger than 64/16 bytes");
        }
        return Transport.OnIdentify(new ReadOnlySpan<byte>(id, NvmeSpec.PageSize));
    }

    /// <summary>Number of queues (the controller may grant fewer) and the asynchronous
    /// events the driver handles: namespace attribute changes.</summary>
    private void AddConfigureSteps(NvmeSequence seq)
    {
        uint want = (uint)Math.Clamp(Transport.IoQueueLimit, 1, 64) - 1; // 0's based
        seq.Then("set the number of queues", Command(seq,
                () => new NvmeCommand
                {
                    Opcode = NvmeSpec.AdminSetFeatures, Cdw10 = NvmeSpec.FeatureNumberOfQueues,
                    Cdw11 = want | want << 16,
                },
                NvmeData.None, cpl =>
                {
                    int granted = (int)Math.Min(cpl.Dw0 & 0xFFFF, cpl.Dw0 >> 16) + 1;
                    MaxIoQueues = Math.Min(granted, (int)want + 1);
                    lock (_owners)
                    {
                        if (_qidUsed.Length < MaxIoQueues + 1)
                        {
                            bool[] used = new bool[MaxIoQueues + 1];
                            Array.Copy(_qidUsed, used, _qidUsed.Length);
                            _qidUsed = used;
                        }
                    }
                }))
            .Then("configure asynchronous events", Command(seq,
                () => new NvmeCommand
                {
                    Opcode = NvmeSpec.AdminSetFeatures, Cdw10 = NvmeSpec.FeatureAsyncEventConfig,
                    Cdw11 = NvmeSpec.AsyncEventNamespaceAttribute,
                },
                NvmeData.None, optional: "namespace attribute events not enabled"));
    }
}
