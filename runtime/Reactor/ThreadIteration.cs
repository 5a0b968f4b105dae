using System;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Reactor;

/// <summary>spdk_for_each_thread: runs a function on every live thread in turn, each on its
/// own thread, then a completion on the thread that started the walk.</summary>
internal sealed unsafe class ThreadIteration
{
    private readonly LightweightThread[] _threads;
    private readonly Action _fn;
    private readonly Action _done;
    private readonly LightweightThread _origin;
    private int _index;

    private ThreadIteration(LightweightThread[] threads, Action fn, Action done, LightweightThread origin)
    {
        _threads = threads;
        _fn = fn;
        _done = done;
        _origin = origin;
    }

    public static int Start(Action fn, Action done)
    {
        LightweightThread? origin = LightweightThread.Current;
        if (origin == null)
        {
            return LastError.Set(Errno.EINVAL, "no current thread: nb_for_each_thread must be called from a thread");
        }
        new ThreadIteration(ThreadRegistry.Snapshot(), fn, done, origin).Next();
        return 0;
    }

    private void Next()
    {
        while (_index < _threads.Length)
        {
            if (_threads[_index].SendControl(&Visit, this) == 0)
            {
                return;
            }
            _index++; // exited meanwhile: skip it
        }
        if (_origin.SendControl(&Finish, this) != 0)
        {
            Log.Error("for_each_thread: completion could not be delivered to the originating thread");
        }
    }

    private static void Visit(object? o, nint _)
    {
        var it = (ThreadIteration)o!;
        it._index++;
        it._fn();
        it.Next();
    }

    private static void Finish(object? o, nint _) => ((ThreadIteration)o!)._done();
}
