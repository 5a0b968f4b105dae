using System;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>The building blocks of the controller's sequences: an admin command as a step,
/// a wait for a status bit as a step, a property write as a step.</summary>
internal sealed unsafe partial class NvmeController
{
    /// <summary>A step that submits the command the first time it is polled and is done
    /// when it completes: <paramref name="ok"/> sees the completion; a failure fails the
    /// sequence (or, <paramref name="optional"/>, is logged and passed over).</summary>
    private Func<StepResult> Command(NvmeSequence seq, Func<NvmeCommand> build, NvmeData data,
        Action<NvmeCompletion>? ok = null, string? optional = null)
    {
        int phase = 0; // 0 not sent, 1 in flight, 2 answered
        int status = 0;
        NvmeCompletion result = default;
        return () =>
        {
            if (phase == 0)
            {
                phase = 1;
                _admin!.Submit(build(), data, (int rc, in NvmeCompletion cpl) =>
                {
                    status = rc;
                    result = cpl;
                    phase = 2;
                });
            }
            if (phase == 1)
            {
                return StepResult.Again;
            }
            phase = 0;
            if (status != 0)
            {
                if (optional != null)
                {
                    Log.Info($"nvme {Address}: {optional} ({LastError.Message})");
                    return StepResult.Next;
                }
                return seq.Fail(status);
            }
            ok?.Invoke(result);
            return StepResult.Next;
        };
    }

    /// <summary>A step done once (CSTS &amp; mask) == want; it fails the sequence with
    /// -ETIMEDOUT and <paramref name="message"/> after <paramref name="timeoutMs"/>, or at once
    /// when the device stops answering (CSTS all ones: surprise removal).</summary>
    private Func<StepResult> WaitStatus(NvmeSequence seq, uint mask, uint want, Func<int> timeoutMs,
        Func<uint, string> message)
    {
        long deadline = 0;
        return () =>
        {
            if (deadline == 0)
            {
                deadline = Ticks.Now + Ticks.FromMicroseconds(timeoutMs() * 1000L);
            }
            if (Transport.GetProperty32(NvmeSpec.RegCsts, out uint csts) != 0)
            {
                return StepResult.Again; // a fabric's property read still on its way
            }
            if (csts != uint.MaxValue && (csts & mask) == want)
            {
                deadline = 0;
                return StepResult.Next;
            }
            if (csts == uint.MaxValue || Ticks.Now > deadline)
            {
                deadline = 0;
                return seq.Fail(LastError.Set(Errno.ETIMEDOUT, message(csts)));
            }
            return StepResult.Again;
        };
    }

    /// <summary>A step that runs <paramref name="action"/> (0 or -errno) once.</summary>
    private static Func<StepResult> Do(NvmeSequence seq, Func<int> action) => () =>
    {
        int rc = action();
        return rc == 0 ? StepResult.Next : seq.Fail(rc);
    };

    private uint Property32(int offset)
    {
        Transport.GetProperty32(offset, out uint v);
        return v;
    }
}
