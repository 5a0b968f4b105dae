using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>What a step of an <see cref="NvmeSequence"/> says when polled.</summary>
internal enum StepResult
{
    Next,   // done: go on to the next step now
    Again,  // waiting (an admin command, a register): poll again later
    Failed, // stop: the sequence fails with the step's error
}

/// <summary>A controller procedure as a pollable state machine (SPDK's nvme_ctrlr_process_init
/// states): an ordered list of steps, each polled until it is done, none ever waiting
/// inside a call. Bring-up, reset, queue creation and shutdown are sequences the admin poll
/// advances, so a controller whose properties and commands are a network round trip away
/// runs the same procedures without a thread blocked on each.</summary>
internal sealed class NvmeSequence
{
    private readonly List<(string Name, Func<StepResult> Step)> _steps = new();
    private int _current;
    private Action<int>? _done;

    public NvmeSequence(string name) => Name = name;

    public string Name { get; }
    public int Status { get; private set; }
    public bool Finished { get; private set; }

    /// <summary>The step's error when it answers Failed (LastError is per OS thread: the
    /// sequence keeps the message for whoever waits on another thread).</summary>
    public string Message { get; private set; } = "";

    public NvmeSequence Then(string name, Func<StepResult> step)
    {
        _steps.Add((name, step));
        return this;
    }

    public NvmeSequence OnDone(Action<int> done)
    {
        _done = done;
        return this;
    }

    /// <summary>Fails the sequence from a step: the errno and message are kept.</summary>
    public StepResult Fail(int rc)
    {
        Status = rc < 0 ? rc : -Errno.EIO;
        Message = LastError.Message;
        return StepResult.Failed;
    }

    /// <summary>Runs steps until one waits or the sequence ends. True once it has ended.</summary>
    public bool Poll()
    {
        while (!Finished && _current < _steps.Count)
        {
            StepResult r = _steps[_current].Step();
            if (r == StepResult.Again)
            {
                return false;
            }
            if (r == StepResult.Failed)
            {
                Finish(Status != 0 ? Status : -Errno.EIO);
                return true;
            }
            _current++;
        }
        if (!Finished)
        {
            Finish(0);
        }
        return true;
    }

    private void Finish(int status)
    {
        Finished = true;
        Status = status;
        _done?.Invoke(status);
    }
}
