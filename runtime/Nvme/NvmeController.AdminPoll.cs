using System;
using System.Collections.Generic;
using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>The admin poll: one OS thread per controller advances the running sequence,
/// reaps the admin queue, watches CSTS, keeps an asynchronous event request armed and
/// turns channels' requests into sequences, one at a time, resets first. It waits on an
/// event between polls (1 ms while a sequence runs, 10 ms when idle; a request wakes it).</summary>
internal sealed unsafe partial class NvmeController
{
    private NvmeSequence? _sequence;
    private NvmeSequence? _followUp;     // started when the current sequence ends
    private readonly List<AdminRequest> _backlog = new();
    private bool _aerArmed;
    private bool _aerRefused;
    private uint _aerResult;
    private int _aerPending;

    private void AdminThread()
    {
        while (true)
        {
            int work = 0;
            try
            {
                work = AdminPoll();
            }
            catch (Exception e)
            {
                Log.Error($"nvme {Address}: admin poll: {e.Message}");
            }
            if (_stop && _sequence == null && _followUp == null && _requests.IsEmpty && _backlog.Count == 0)
            {
                return;
            }
            if (work == 0)
            {
                _wake.WaitOne(_sequence != null || _followUp != null ? 1 : AdminPollMs);
            }
        }
    }

    private int AdminPoll()
    {
        int work = _admin!.Poll();
        if (_sequence == null && _followUp != null)
        {
            _sequence = _followUp;
            _followUp = null;
        }
        if (_sequence != null)
        {
            if (!_sequence.Poll())
            {
                return work;
            }
            _sequence = null;
            return work + 1;
        }
        if (State == NvmeControllerState.Ready)
        {
            uint csts = Csts;
            if (csts == uint.MaxValue || (csts & NvmeSpec.CstsFatal) != 0)
            {
                _sequence = ResetSequence(csts == uint.MaxValue
                    ? "the controller does not respond (CSTS reads all ones)" : "controller fatal status (CSTS.CFS)");
                return work + 1;
            }
            if (_aerPending != 0)
            {
                _aerPending = 0;
                _sequence = AsyncEventSequence(_aerResult);
                return work + 1;
            }
            ArmAsyncEvent();
            KeepAlive();
        }
        return work + NextRequest();
    }

    private long _nextKeepAlive;
    private bool _keepAliveInFlight;

    /// <summary>Keep Alive every <see cref="INvmeTransport.KeepAliveIntervalMs"/> (a fabric's
    /// controller tears the association down after KATO without one); one that times out
    /// resets — for a fabric: reconnects — the controller.</summary>
    private void KeepAlive()
    {
        int ms = Transport.KeepAliveIntervalMs;
        long now = Ticks.Now;
        if (ms <= 0 || _keepAliveInFlight || now < _nextKeepAlive)
        {
            return;
        }
        _nextKeepAlive = now + Ticks.FromMicroseconds(ms * 1000L);
        _keepAliveInFlight = true;
        _admin!.Submit(new NvmeCommand { Opcode = NvmeSpec.AdminKeepAlive }, NvmeData.None,
            (int rc, in NvmeCompletion _) =>
            {
                _keepAliveInFlight = false;
                if (rc == -Errno.ETIMEDOUT)
                {
                    _followUp ??= ResetSequence("keep alive not answered");
                }
            });
    }

    /// <summary>One asynchronous event request stays outstanding while the controller is
    /// ready; a controller that refuses them is not asked again until the next reset.</summary>
    private void ArmAsyncEvent()
    {
        if (_aerArmed || _aerRefused)
        {
            return;
        }
        _aerArmed = true;
        _admin!.Submit(new NvmeCommand { Opcode = NvmeSpec.AdminAsyncEventRequest }, NvmeData.None,
            (int rc, in NvmeCompletion cpl) =>
            {
                _aerArmed = false;
                if (rc == 0)
                {
                    _aerResult = cpl.Dw0;
                    _aerPending = 1;
                }
                else if (rc == -Errno.EIO && (cpl.Sct != NvmeSpec.SctGeneric || cpl.Sc != NvmeSpec.ScAbortedSqDeletion))
                {
                    // Not re-armed until the next reset: a controller that refuses them would
                    // otherwise be asked again every poll.
                    _aerRefused = true;
                    Log.Info($"nvme {Address}: asynchronous event request failed: " +
                             $"{NvmeSpec.StatusName(cpl.Sct, cpl.Sc)}; events off until a reset");
                }
            }, noDeadline: true);
    }

    /// <summary>Takes the next request; resets go first (they re-create every connected
    /// queue anyway) and every reset request waiting is answered by the one reset.</summary>
    private int NextRequest()
    {
        while (_requests.TryDequeue(out AdminRequest? r))
        {
            _backlog.Add(r);
        }
        if (_backlog.Count == 0)
        {
            return 0;
        }
        List<AdminRequest>? resets = null;
        for (int i = _backlog.Count - 1; i >= 0; i--)
        {
            if (_backlog[i].Kind == RequestKind.Reset)
            {
                (resets ??= new()).Insert(0, _backlog[i]);
                _backlog.RemoveAt(i);
            }
        }
        if (resets != null)
        {
            _sequence = ResetSequence("requested");
            _sequence.OnDone(_ =>
            {
                // A failed reset's follow-up (stop DMA) runs before the callers hear of it.
                foreach (AdminRequest r in resets)
                {
                    r.Status = State == NvmeControllerState.Ready ? 0
                        : LastError.Set(Errno.EIO, $"nvme {Address}: reset failed");
                    r.Done?.Invoke(r);
                }
            });
            return 1;
        }
        AdminRequest next = _backlog[0];
        _backlog.RemoveAt(0);
        Run(next);
        return 1;
    }

    private void Run(AdminRequest r)
    {
        bool ready = State == NvmeControllerState.Ready;
        switch (r.Kind)
        {
            case RequestKind.Connect:
                if (!IsOwner(r.Owner!) || r.Owner!.Connected || !ready)
                {
                    break; // not ready: the reset in progress re-creates it with the others
                }
                _sequence = Single("connect", done => Transport.ConnectIoQueue(_admin!, r.Queue!, done), rc =>
                {
                    if (rc == 0)
                    {
                        r.Owner.Connected = true;
                        return;
                    }
                    // A reset re-creates every queue, this one included, or fails the
                    // controller (and with it the I/O waiting for this queue).
                    _followUp = ResetSequence($"I/O queue {r.Queue!.Id} could not be created: {LastError.Message}");
                });
                return;
            case RequestKind.Disconnect:
                if (ready && r.Owner!.Connected)
                {
                    _sequence = Single("disconnect", done => Transport.DisconnectIoQueue(_admin!, r.Queue!, done), rc =>
                    {
                        r.Owner.Connected = false;
                        if (rc == 0)
                        {
                            FreeQueue(r.Queue!);
                            return;
                        }
                        // The controller may still own the rings: take them back by a reset
                        // (which no longer knows this queue) before they are freed.
                        NvmeSequence reset = ResetSequence(
                            $"I/O queue {r.Queue!.Id} could not be deleted: {LastError.Message}");
                        reset.OnDone(_ => FreeQueue(r.Queue!));
                        _followUp = reset;
                    });
                    return;
                }
                r.Owner!.Connected = false;
                FreeQueue(r.Queue!);
                break;
            case RequestKind.Abort:
                if (ready)
                {
                    _admin!.Submit(new NvmeCommand { Opcode = NvmeSpec.AdminAbort, Cdw10 = r.Command.Cdw10 },
                        NvmeData.None, (int _, in NvmeCompletion _) => { });
                }
                break;
            case RequestKind.Passthru:
                if (!ready)
                {
                    r.Status = LastError.Set(Errno.EAGAIN, $"nvme {Address} is {State}");
                    break;
                }
                NvmeCommand c = r.Command;
                c.Prp1 = c.Prp2 = c.Mptr = 0; // the driver's data pointer, never the caller's
                NvmeData data = r.Length > 0 ? NvmeData.Flat((byte*)r.Buffer, (ulong)r.Length) : NvmeData.None;
                _admin!.Submit(c, data, (int rc, in NvmeCompletion cpl) =>
                {
                    r.Status = rc;
                    r.Completion = cpl;
                    if (rc == -Errno.ETIMEDOUT)
                    {
                        _followUp ??= ResetSequence("admin command timed out");
                    }
                    r.Done?.Invoke(r);
                });
                return;
        }
        r.Done?.Invoke(r);
    }

    /// <summary>A sequence of one asynchronous operation.</summary>
    private static NvmeSequence Single(string name, Action<Action<int>> start, Action<int> finished)
    {
        var seq = new NvmeSequence(name);
        int phase = 0, status = 0;
        seq.Then(name, () =>
        {
            if (phase == 0)
            {
                phase = 1;
                start(rc =>
                {
                    status = rc;
                    phase = 2;
                });
            }
            return phase == 2 ? StepResult.Next : StepResult.Again;
        });
        seq.OnDone(_ => finished(status));
        return seq;
    }

    private void FreeQueue(NvmeTransportQueue q)
    {
        q.Dispose();
        ReleaseQueueId(q.Id);
    }

    // ------------------------------------------------------------------ detach

    private void StopAdminThread()
    {
        _stop = true;
        _wake.Set();
        if (_thread != null && _thread != Thread.CurrentThread)
        {
            _thread.Join(); // (a hot-removed namespace may drop the last reference from it)
        }
    }

    private void Detach()
    {
        StopAdminThread();
        if (State is NvmeControllerState.Ready or NvmeControllerState.Resetting)
        {
            RunToEnd(ShutdownSequence());
        }
        else
        {
            StopDma(); // the admin queue's memory is about to be freed
        }
        Volatile.Write(ref _state, (int)NvmeControllerState.Detached);
        FreeResources();
        Transport.Dispose();
        Log.Notice($"nvme {Address}: detached");
    }

    /// <summary>Orderly shutdown: CC.SHN = normal, then CSTS.SHST = complete, so the
    /// controller flushes its caches before the function is let go.</summary>
    private NvmeSequence ShutdownSequence()
    {
        var seq = new NvmeSequence("shutdown");
        var wait = WaitStatus(seq, NvmeSpec.CstsShstMask, NvmeSpec.CstsShstComplete,
            () => Math.Max(ReadyTimeoutMs, 5000),
            csts => $"nvme {Address}: shutdown did not complete (CSTS 0x{csts:x})");
        seq.Then("set CC.SHN", Do(seq, () => Transport.SetProperty32(NvmeSpec.RegCc,
                (Property32(NvmeSpec.RegCc) & ~NvmeSpec.CcShnMask) | NvmeSpec.CcShnNormal)))
            .Then("wait for CSTS.SHST", () =>
            {
                StepResult r = wait();
                if (r == StepResult.Failed)
                {
                    Log.Warn(LastError.Message);
                    return StepResult.Next;
                }
                return r;
            });
        return seq;
    }

    private void FreeResources()
    {
        _adminQueue?.Dispose();
        _adminQueue = null;
        _admin = null;
        if (_identifyBuffer != null)
        {
            NbEnvironment.Dma?.Free(_identifyBuffer);
            _identifyBuffer = null;
        }
    }
}
