using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Reactor;

/// <summary>A thread's reference-counted view of an io_device (spdk_io_channel): the
/// per-thread state a backend keeps (its own ring, queue pair, connection). Created on
/// first get on a thread, destroyed by a message once the last reference is put, so that
/// a put followed by a get in the same poll reuses it.</summary>
internal sealed unsafe class IoChannel
{
    public readonly IoDevice Device;
    public readonly LightweightThread Thread;
    public nint Handle { get; private set; }
    public int RefCount;
    public bool Destroyed;
    /// <summary>Context bytes for a C io_device (its ctx_size), zeroed.</summary>
    public void* Context;
    /// <summary>Per-thread state of a managed io_device.</summary>
    public object? State;
    private bool _destroyScheduled;
    /// <summary>The order in which the thread's channels finished being created.</summary>
    internal long Sequence;
    /// <summary>True while the device's create callback runs for this channel.</summary>
    private bool _creating;

    private IoChannel(IoDevice device, LightweightThread thread)
    {
        Device = device;
        Thread = thread;
    }

    /// <summary>spdk_get_io_channel on the current thread.</summary>
    public static int Get(IoDevice device, out IoChannel? channel)
    {
        channel = null;
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: get io channels from inside nb_thread_poll or after nb_set_thread");
        }
        if (thread.Channels.TryGetValue(device, out IoChannel? ch))
        {
            if (ch._creating)
            {
                return LastError.Set(Errno.EDEADLK, $"io device '{device.Name}': a channel was asked for from " +
                    $"inside its own create callback on thread '{thread.Name}' (the channel does not exist yet)");
            }
            ch.RefCount++;
            channel = ch;
            return 0;
        }
        if (device.Unregistering)
        {
            return LastError.Set(Errno.ENODEV, $"io device '{device.Name}' is being unregistered");
        }
        if (thread.State != ThreadState.Running || thread.ExitRequested)
        {
            return LastError.Set(Errno.EINVAL, $"thread '{thread.Name}' is exiting and takes no new io channels");
        }
        ch = new IoChannel(device, thread) { RefCount = 1, _creating = true };
        if (device.ContextSize > 0)
        {
            ch.Context = NativeMemory.AlignedAlloc((nuint)device.ContextSize, 64);
            NativeMemory.Clear(ch.Context, (nuint)device.ContextSize);
        }
        // In the thread's table while it is created, so that a get of the same device from
        // inside the create callback is refused rather than creating a second channel.
        thread.Channels.Add(device, ch);
        int said = LastError.Sequence;
        int rc;
        try
        {
            rc = device.CreateChannel(ch);
        }
        finally
        {
            ch._creating = false;
            if (thread.Channels.TryGetValue(device, out IoChannel? at) && at == ch)
            {
                thread.Channels.Remove(device);
            }
        }
        if (rc != 0)
        {
            if (ch.Context != null)
            {
                NativeMemory.AlignedFree(ch.Context);
            }
            return Refused(device, rc, LastError.Sequence != said);
        }
        ch.Handle = Handles.Allocate(ch);
        ch.Sequence = ++thread.ChannelsMade;
        thread.Channels.Add(device, ch);
        device.AddChannel(ch);
        channel = ch;
        return 0;
    }

    /// <summary>A device's refusal as the caller sees it: the device's own errno and message
    /// when it gave one (a ring's EMFILE, aio's aio-max-nr), else its return value named.</summary>
    private static int Refused(IoDevice device, int rc, bool deviceSaidWhy)
    {
        if (rc > 0)
        {
            return LastError.Set(Errno.EIO, $"io device '{device.Name}' refused a channel (create returned {rc})");
        }
        if (deviceSaidWhy && LastError.Errno == -rc)
        {
            return rc;
        }
        return LastError.Set(-rc, $"io device '{device.Name}' refused a channel: its create callback returned " +
            $"{rc} ({Libc.StrError(-rc)})");
    }

    /// <summary>The owner-thread rule for a channel: its state (a bdev channel's I/O pool and
    /// completions, a backend's ring or queue pair) belongs to its thread and is not
    /// thread-safe, by design. Every core entry that uses a channel on the caller's behalf
    /// checks this, so each front end gets the same rule and message. One comparison.</summary>
    public bool IsOwnedByCurrentThread
    {
        // LightweightThread.IsCurrent's comparison, written out: called on the Thread field it
        // would add a null check of Thread to every I/O.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => LightweightThread.Current == Thread;
    }

    /// <summary>The refusal when <see cref="IsOwnedByCurrentThread"/> is false (out of line:
    /// the I/O path only calls it when it fails).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int NotOwned(IoChannel channel) =>
        LastError.Set(Errno.EINVAL, $"io channel of '{channel.Device.Name}' is used from a thread that does not " +
            $"own it ({channel.Thread.OwnerHint()})");

    /// <summary>The refusal of a channel whose last reference was put: its handle lives until
    /// the destroy message runs, but nothing may be submitted to it any more (its I/O would
    /// complete on a channel being torn down). Out of line: only called when it fails.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Unreferenced() => LastError.Set(Errno.EBADF,
        "io channel was put (no reference left): get it again with nb_bdev_get_io_channel");

    /// <summary>The owner-thread rule as a result: 0, or the refusal.</summary>
    public int CheckOwner() => IsOwnedByCurrentThread ? 0 : NotOwned(this);

    /// <summary>spdk_put_io_channel: drop one reference, on the channel's own thread.</summary>
    public int Put()
    {
        if (!Thread.IsCurrent)
        {
            return LastError.Set(Errno.EINVAL,
                $"io channel of '{Device.Name}' must be put on its own thread ({Thread.OwnerHint()})");
        }
        if (RefCount <= 0)
        {
            return LastError.Set(Errno.EINVAL, $"io channel of '{Device.Name}' has no reference left to put");
        }
        if (--RefCount == 0 && !_destroyScheduled)
        {
            _destroyScheduled = true;
            int rc = Thread.SendControl(&DestroyIfUnused, this);
            if (rc != 0)
            {
                _destroyScheduled = false;
                DestroyIfUnused(this, 0);
            }
        }
        return 0;
    }

    /// <summary>A forced exit (<see cref="LightweightThread"/>): the references never put are
    /// dropped and the channel destroyed now, on its thread; its handle becomes stale.</summary>
    internal void ForceRelease()
    {
        RefCount = 0;
        DestroyIfUnused(this, 0);
    }

    private static void DestroyIfUnused(object? o, nint _)
    {
        var ch = (IoChannel)o!;
        ch._destroyScheduled = false;
        if (ch.RefCount > 0 || ch.Destroyed)
        {
            return;
        }
        ch.Destroyed = true;
        ch.Thread.Channels.Remove(ch.Device);
        Handles.Release(ch.Handle);
        ch.Device.DestroyChannel(ch);
        if (ch.Context != null)
        {
            NativeMemory.AlignedFree(ch.Context);
            ch.Context = null;
        }
        ch.Device.RemoveChannel(ch);
    }
}
