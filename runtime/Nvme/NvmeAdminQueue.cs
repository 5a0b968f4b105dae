using System;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>The admin queue as a pollable state machine: <see cref="Submit"/> places a
/// command with a callback and returns; <see cref="Poll"/> reaps completions, runs their
/// callbacks and fails commands past their deadline with -ETIMEDOUT. Nothing waits for a
/// command, so a fabrics transport can share a thread with other work. One poller drives
/// it (the controller's admin poll): no locks.</summary>
internal sealed unsafe class NvmeAdminQueue : NvmeCompletionSink
{
    public delegate void Completion(int status, in NvmeCompletion cpl);

    private readonly string _address;
    private readonly NvmeTransportQueue _queue;
    private readonly Completion?[] _callbacks;
    private readonly byte[] _opcodes;
    private readonly long _timeoutTicks;

    public NvmeAdminQueue(string address, NvmeTransportQueue queue, long timeoutTicks)
    {
        _address = address;
        _queue = queue;
        _callbacks = new Completion?[queue.Entries];
        _opcodes = new byte[queue.Entries];
        _timeoutTicks = timeoutTicks > 0 ? timeoutTicks : Ticks.Hz * 30;
    }


    /// <summary>Places <paramref name="cmd"/>; <paramref name="done"/> runs from a later
    /// <see cref="Poll"/> with 0, -EIO (the status is in the completion and the message),
    /// or -ETIMEDOUT. A command that cannot be placed completes at once with the error.
    /// Commands without a deadline (an asynchronous event request) pass
    /// <paramref name="noDeadline"/>.</summary>
    public void Submit(NvmeCommand cmd, in NvmeData data, Completion done, bool noDeadline = false)
    {
        int rc = _queue.Submit(ref cmd, null, data, noDeadline ? long.MaxValue : Ticks.Now);
        if (rc != 0)
        {
            done(rc == -Errno.EAGAIN ? LastError.Set(Errno.EBUSY, $"nvme {_address}: the admin queue is full") : rc,
                default);
            return;
        }
        _callbacks[cmd.Cid] = done;
        _opcodes[cmd.Cid] = cmd.Opcode;
        _queue.RingSubmissions();
    }

    /// <summary>Completions and deadlines; the number of commands finished.</summary>
    public int Poll()
    {
        if (_queue.Outstanding == 0)
        {
            return 0;
        }
        int n = _queue.Process(this, 16);
        long now = Ticks.Now;
        for (int cid = 0; cid < _queue.Slots; cid++)
        {
            if (_queue.InFlight(cid, out _, out long submitted, out _) && submitted != long.MaxValue &&
                now - submitted > _timeoutTicks)
            {
                Completion? cb = _callbacks[cid];
                _callbacks[cid] = null;
                _queue.Release(cid); // a late completion for it is counted as spurious
                cb?.Invoke(LastError.Set(Errno.ETIMEDOUT,
                    $"nvme {_address}: admin command 0x{_opcodes[cid]:x2} did not complete"), default);
                n++;
            }
        }
        return n;
    }

    public override void Completed(ushort cid, void* request, in NvmeCompletion cpl)
    {
        Completion? cb = _callbacks[cid];
        _callbacks[cid] = null;
        if (cb == null)
        {
            return;
        }
        int status = cpl.Success ? 0 : LastError.Set(Errno.EIO,
            $"nvme {_address}: admin command 0x{_opcodes[cid]:x2} failed: {NvmeSpec.StatusName(cpl.Sct, cpl.Sc)}");
        cb(status, cpl);
    }

    /// <summary>The controller was disabled: every command is gone, and each callback hears
    /// <paramref name="status"/> (commands without a deadline — the event request — are
    /// dropped silently: the controller re-arms them).</summary>
    public void Abandon(int status)
    {
        for (int cid = 0; cid < _queue.Slots; cid++)
        {
            if (_queue.InFlight(cid, out _, out long submitted, out _))
            {
                Completion? cb = _callbacks[cid];
                _callbacks[cid] = null;
                _queue.Release(cid);
                if (submitted != long.MaxValue)
                {
                    cb?.Invoke(status, default);
                }
            }
        }
        _queue.Reset();
    }
}
