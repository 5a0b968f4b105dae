using System.Threading;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>The reset protocol and giving a controller up. Reset: queue owners are
/// disconnected, the controller is disabled, the generation moves (each owner reclaims
/// what the controller dropped and acknowledges), the controller is enabled and
/// configured again and every owner's queue re-created; the owners then resubmit what
/// they reclaimed. A controller that does not come back is failed: stopped from touching
/// host memory before anything is reported failed.</summary>
internal sealed unsafe partial class NvmeController
{
    private bool _disabled;

    private NvmeSequence ResetSequence(string reason)
    {
        var seq = new NvmeSequence("reset");
        long ackDeadline = 0;
        int gen = 0;
        INvmeQueueOwner[] owners = [];
        int next = 0;
        bool creating = false;
        int createStatus = 0;
        seq.Then("disconnect the queue owners", () =>
        {
            Volatile.Write(ref _state, (int)NvmeControllerState.Resetting);
            Interlocked.Increment(ref _resetCount);
            Log.Warn($"nvme {Address}: resetting the controller ({reason})");
            // Disconnected before the generation moves: an owner that sees the new
            // generation reclaims its queue and must not fill it again until it is re-created.
            foreach (INvmeQueueOwner o in Owners())
            {
                o.Connected = false;
            }
            return StepResult.Next;
        });
        AddDisableSteps(seq, tolerateTimeout: true);
        seq.Then("move the generation", () =>
            {
                gen = Interlocked.Increment(ref _generation);
                owners = Owners(); // and those that arrived meanwhile (not connected yet)
                ackDeadline = Ticks.Now + Ticks.FromMicroseconds(ResetAckTimeoutMs * 1000L);
                return StepResult.Next;
            })
            .Then("wait for every owner to reclaim its queue", () =>
            {
                foreach (INvmeQueueOwner o in owners)
                {
                    if (o.AckedGeneration == gen || o.AckedGeneration == int.MaxValue)
                    {
                        continue;
                    }
                    if (Ticks.Now < ackDeadline)
                    {
                        return StepResult.Again;
                    }
                    Log.Error($"nvme {Address}: I/O queue {o.Queue.Id} was not released by its thread within " +
                              $"{ResetAckTimeoutMs} ms (is the thread polled?)");
                    return seq.Fail(LastError.Set(Errno.ETIMEDOUT, "a queue owner did not take part in the reset"));
                }
                return _disabled ? StepResult.Next
                    : seq.Fail(LastError.Set(Errno.ETIMEDOUT, $"nvme {Address} did not disable"));
            });
        AddEnableSteps(seq);
        AddConfigureSteps(seq);
        seq.Then("re-create the I/O queues", () =>
            {
                if (next == 0 && !creating)
                {
                    owners = Owners();
                }
                while (true)
                {
                    if (creating)
                    {
                        return StepResult.Again;
                    }
                    if (createStatus != 0)
                    {
                        return seq.Fail(LastError.Set(-createStatus,
                            $"I/O queue {owners[next - 1].Queue.Id} could not be re-created: {LastError.Message}"));
                    }
                    if (next > 0)
                    {
                        owners[next - 1].Connected = true;
                    }
                    if (next >= owners.Length)
                    {
                        return StepResult.Next;
                    }
                    INvmeQueueOwner o = owners[next++];
                    creating = true;
                    Transport.ConnectIoQueue(_admin!, o.Queue, rc =>
                    {
                        createStatus = rc;
                        creating = false;
                    });
                }
            })
            .Then("ready", () =>
            {
                Interlocked.Exchange(ref _resetRequested, 0);
                Volatile.Write(ref _state, (int)NvmeControllerState.Ready);
                Log.Notice($"nvme {Address}: reset complete");
                return StepResult.Next;
            });
        seq.OnDone(rc =>
        {
            if (rc != 0)
            {
                StartFailing(seq.Message);
            }
        });
        return seq;
    }

    /// <summary>The controller is given up: state Failed at once (new I/O fails), the
    /// device is stopped from DMA (disabled, or bus mastering cut), and only then does the
    /// generation move, so owners fail what they hold when the device can no longer write
    /// into those buffers.</summary>
    private void StartFailing(string reason)
    {
        Log.Error($"nvme {Address}: controller failed: {reason}");
        Volatile.Write(ref _state, (int)NvmeControllerState.Failed);
        foreach (INvmeQueueOwner o in Owners())
        {
            o.Connected = false;
        }
        NvmeSequence stop = StopDmaSequence();
        stop.OnDone(_ =>
        {
            Interlocked.Increment(ref _generation);
            ControllerFailed?.Invoke(reason);
        });
        _followUp = stop;
    }

    /// <summary>Disable; a controller that does not disable loses bus mastering.</summary>
    private NvmeSequence StopDmaSequence()
    {
        var seq = new NvmeSequence("stop DMA");
        AddDisableSteps(seq, tolerateTimeout: true);
        seq.Then("cut bus mastering if still enabled", () =>
        {
            if (!_disabled)
            {
                Log.Error($"nvme {Address}: the controller does not disable: bus mastering turned off");
                Transport.StopDma();
            }
            return StepResult.Next;
        });
        return seq;
    }

    /// <summary>Synchronous form for a thread that is not the admin poll's (bring-up failed,
    /// detach of a controller that never became ready): the sequence polled to its end.</summary>
    private void StopDma() => RunToEnd(StopDmaSequence());

    private void RunToEnd(NvmeSequence seq)
    {
        while (!seq.Poll())
        {
            _admin?.Poll();
            Thread.Sleep(1);
        }
    }
}
