using System;
using System.Collections.Generic;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;

namespace NativeBdev.Bdev;

/// <summary>All registered bdevs by name, and the control paths on them: register, open,
/// close, claim, destroy, events. One lock; never on the I/O path. Bdevs are kept in creation
/// order in a linked list (each bdev holds its node, so removal and nb_bdev_next are O(1)) and
/// indexed by name and by UUID: with a list searched linearly, 10,000 bdevs took 250 us each
/// to create and 3.7 s to walk (tests/c/test_bdev_scale.c).</summary>
internal static unsafe class BdevRegistry
{
    private static readonly object s_lock = new();
    private static readonly LinkedList<Bdev> s_bdevs = new();
    private static readonly Dictionary<string, Bdev> s_byName = new(StringComparer.Ordinal);
    private static readonly Dictionary<Guid, Bdev> s_byUuid = new();

    public const int MaxNameLength = 255;

    public static int Register(Bdev bdev)
    {
        lock (s_lock)
        {
            Bdev? same = FindLocked(bdev.Name);
            if (same != null)
            {
                // Look-ups no longer see a bdev being removed; its name is still taken until the
                // removal completes (SPDK keeps it registered until unregister finishes).
                return LastError.Set(Errno.EEXIST, same.Removing
                    ? $"bdev '{bdev.Name}' is still being removed: its name is free once nb_bdev_destroy's " +
                      "callback has run"
                    : $"a bdev named '{bdev.Name}' already exists");
            }
            if (s_byUuid.TryGetValue(bdev.Uuid, out same))
            {
                return LastError.Set(Errno.EEXIST, $"bdev '{same.Name}' already has UUID {bdev.Uuid}");
            }
            // A look-up string names one bdev: no bdev is named like another's UUID.
            if (s_byName.TryGetValue(bdev.Uuid.ToString(), out same))
            {
                return LastError.Set(Errno.EEXIST, $"bdev '{same.Name}' is named like UUID {bdev.Uuid}");
            }
            bdev.Registered(Handles.Allocate(bdev));
            bdev.RegistryNode = s_bdevs.AddLast(bdev);
            s_byName.Add(bdev.Name, bdev);
            s_byUuid.Add(bdev.Uuid, bdev);
        }
        Log.Info($"bdev '{bdev.Name}' registered: {bdev.ModuleName}, {bdev.BlockCount} x {bdev.BlockSize} B");
        BdevModules.Examine(bdev);
        return 0;
    }

    public static int CheckName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return LastError.Set(Errno.EINVAL, "bdev name is empty");
        }
        if (name.Length > MaxNameLength)
        {
            return LastError.Set(Errno.ENAMETOOLONG, $"bdev name is longer than {MaxNameLength} characters");
        }
        foreach (char c in name)
        {
            // '/' is allowed: file backends are named by their path, as in Mayastor.
            if (char.IsControl(c) || c == '?' || c == '&' || c == '#')
            {
                return LastError.Set(Errno.EINVAL, $"bdev name '{name}' contains a control character or one of ? & #");
            }
        }
        return 0;
    }

    private static Bdev? FindLocked(string name)
    {
        if (s_byName.TryGetValue(name, out Bdev? b))
        {
            return b;
        }
        // A UUID as Guid.ToString writes it (lower case, hyphens), as the list compared it.
        return name.Length == 36 && Guid.TryParseExact(name, "D", out Guid uuid) &&
               s_byUuid.TryGetValue(uuid, out b) && b.Uuid.ToString() == name
            ? b
            : null;
    }

    /// <summary>By name or UUID string; bdevs being removed are not found.</summary>
    public static Bdev? Find(string name)
    {
        lock (s_lock)
        {
            Bdev? b = FindLocked(name);
            return b != null && !b.Removing ? b : null;
        }
    }

    /// <summary>By name or UUID, for a control call: 0, or -ENODEV saying whether there is no
    /// such bdev or it is being removed.</summary>
    public static int FindLive(string name, out Bdev? bdev)
    {
        lock (s_lock)
        {
            return FindLiveLocked(name, out bdev);
        }
    }

    private static int FindLiveLocked(string name, out Bdev? bdev)
    {
        bdev = FindLocked(name);
        if (bdev == null)
        {
            return LastError.Set(Errno.ENODEV, $"no bdev named '{name}'");
        }
        if (bdev.Removing)
        {
            bdev = null;
            return LastError.Set(Errno.ENODEV, $"bdev '{name}' is being removed");
        }
        return 0;
    }

    public static Bdev[] Snapshot()
    {
        lock (s_lock)
        {
            var all = new List<Bdev>(s_bdevs.Count);
            foreach (Bdev b in s_bdevs)
            {
                if (!b.Removing)
                {
                    all.Add(b);
                }
            }
            return all.ToArray();
        }
    }

    /// <summary>The oldest bdev not being removed (nb_bdev_first), or null.</summary>
    public static Bdev? First()
    {
        lock (s_lock)
        {
            return NextLive(s_bdevs.First);
        }
    }

    /// <summary>The next bdev after <paramref name="prev"/> in creation order that is not being
    /// removed (nb_bdev_next), or null; also from a bdev being removed, until it is unregistered.</summary>
    public static Bdev? Next(Bdev prev)
    {
        lock (s_lock)
        {
            LinkedListNode<Bdev>? node = prev.RegistryNode;
            return node == null ? null : NextLive(node.Next);
        }
    }

    private static Bdev? NextLive(LinkedListNode<Bdev>? node)
    {
        while (node != null && node.Value.Removing)
        {
            node = node.Next;
        }
        return node?.Value;
    }

    public static int Count
    {
        get
        {
            lock (s_lock)
            {
                return s_bdevs.Count;
            }
        }
    }

    /// <summary>spdk_bdev_open_ext. The event callback runs on the calling thread.</summary>
    public static int Open(string name, bool write, delegate* unmanaged[Cdecl]<int, nint, void*, void> nativeCb,
        void* nativeCtx, Action<BdevEventType, Bdev>? managedCb, out BdevDesc? desc)
    {
        desc = null;
        LightweightThread? thread = LightweightThread.Current;
        if (thread == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: open bdevs from a thread (inside nb_thread_poll or after nb_set_thread)");
        }
        lock (s_lock)
        {
            int rc = FindLiveLocked(name, out Bdev? b);
            if (rc != 0)
            {
                return rc;
            }
            if (write && b!.ClaimedBy != null)
            {
                return LastError.Set(Errno.EPERM,
                    $"bdev '{b.Name}' is claimed by '{b.ClaimOwner}': it cannot be opened for writing");
            }
            // A bdev that takes no writes (readonly=1, or a virtual bdev on one) has no writable
            // descriptor: refused here, as for a claim, rather than accepted and failing each write.
            if (write && !b!.IoTypeSupported(BdevIoType.Write))
            {
                return LastError.Set(Errno.EPERM,
                    $"bdev '{b.Name}' is read-only (it takes no writes): open it with write=0");
            }
            desc = new BdevDesc(b!, write, thread, nativeCb, nativeCtx, managedCb);
            desc.Handle = Handles.Allocate(desc);
            b!.Descriptors.Add(desc);
        }
        return 0;
    }

    /// <summary>spdk_bdev_close. When the bdev is being removed and this was its last
    /// descriptor, the removal completes.</summary>
    public static int Close(BdevDesc desc)
    {
        Bdev b = desc.Bdev;
        bool finish;
        lock (s_lock)
        {
            if (desc.Closed)
            {
                return LastError.Set(Errno.EBADF, "descriptor is already closed");
            }
            desc.Closed = true;
            b.ForgetTimeout(desc);
            Handles.Release(desc.Handle);
            b.Descriptors.Remove(desc);
            if (b.ClaimedBy == desc)
            {
                b.ClaimedBy = null;
                b.ClaimOwner = null;
            }
            finish = b.State == BdevState.Removing && b.Descriptors.Count == 0;
        }
        if (finish)
        {
            Unregister(b);
        }
        return 0;
    }

    /// <summary>spdk_bdev_module_claim_bdev: exclusive write access for the descriptor's
    /// owner (a virtual bdev over its base, say).</summary>
    public static int Claim(BdevDesc desc, string owner)
    {
        lock (s_lock)
        {
            Bdev b = desc.Bdev;
            if (b.ClaimedBy != null)
            {
                return LastError.Set(Errno.EPERM, $"bdev '{b.Name}' is already claimed by '{b.ClaimOwner}'");
            }
            if (!desc.Writable)
            {
                return LastError.Set(Errno.EPERM, "a claim needs a writable descriptor");
            }
            foreach (BdevDesc d in b.Descriptors)
            {
                if (d != desc && d.Writable)
                {
                    return LastError.Set(Errno.EPERM, $"bdev '{b.Name}' has another writable descriptor open");
                }
            }
            b.ClaimedBy = desc;
            b.ClaimOwner = owner;
            return 0;
        }
    }

    public static int ReleaseClaim(BdevDesc desc)
    {
        lock (s_lock)
        {
            if (desc.Bdev.ClaimedBy != desc)
            {
                return LastError.Set(Errno.EINVAL, "this descriptor holds no claim");
            }
            desc.Bdev.ClaimedBy = null;
            desc.Bdev.ClaimOwner = null;
            return 0;
        }
    }

    /// <summary>Removes a bdev: every descriptor is told (REMOVE), new opens and new I/O
    /// fail with -ENODEV, in-flight I/O completes. <paramref name="done"/> runs once the
    /// last descriptor is closed and every channel is released.</summary>
    public static int Destroy(string name, Action<int>? done)
    {
        Bdev? b;
        BdevDesc[] descs;
        lock (s_lock)
        {
            b = FindLocked(name);
            if (b == null)
            {
                return LastError.Set(Errno.ENODEV, $"no bdev named '{name}'");
            }
            if (b.Removing)
            {
                if (done != null)
                {
                    b.AddDestroyCallback(done);
                }
                return 0;
            }
            b.MarkRemoving(done);
            descs = b.Descriptors.ToArray();
        }
        Log.Info($"bdev '{b.Name}' is being removed ({descs.Length} descriptors open)");
        if (descs.Length == 0)
        {
            Unregister(b);
            return 0;
        }
        foreach (BdevDesc d in descs)
        {
            SendEvent(d, BdevEventType.Remove);
        }
        return 0;
    }

    private static int s_removedSinceCollection;

    /// <summary>After many bdevs went and none is left, what they held is garbage: one full
    /// compacting collection gives it back to the OS (a few milliseconds, at a moment when no
    /// bdev exists whose I/O it could stall). Not after every destroy: a host that creates and
    /// destroys one bdev at a time never pays it.</summary>
    internal static void ReturnMemoryWhenEmptied()
    {
        if (System.Threading.Interlocked.Increment(ref s_removedSinceCollection) < 256 || Count != 0)
        {
            return;
        }
        System.Threading.Volatile.Write(ref s_removedSinceCollection, 0);
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    private static void Unregister(Bdev b)
    {
        lock (s_lock)
        {
            if (b.RegistryNode != null)
            {
                s_bdevs.Remove(b.RegistryNode);
                b.RegistryNode = null;
                s_byName.Remove(b.Name);
                s_byUuid.Remove(b.Uuid);
            }
        }
        Handles.Release(b.Handle);
        b.IoDevice.Unregister(b.Finished);
    }

    /// <summary>Sends an event to every open descriptor, each on its own thread.</summary>
    public static void Notify(Bdev b, BdevEventType type)
    {
        BdevDesc[] descs;
        lock (s_lock)
        {
            descs = b.Descriptors.ToArray();
        }
        foreach (BdevDesc d in descs)
        {
            SendEvent(d, type);
        }
    }

    private static void SendEvent(BdevDesc d, BdevEventType type)
    {
        if (d.Thread.SendControl(&DeliverEvent, d, (nint)type) == 0)
        {
            return;
        }
        // Only an exited thread refuses a control message: nothing there will ever close the
        // descriptor, so a removal would wait for it forever. Close it on the thread's behalf
        // (its channels went with the thread) so that the removal completes.
        if (type == BdevEventType.Remove && !d.Closed)
        {
            Log.Warn($"bdev '{d.Bdev.Name}': descriptor opened on thread '{d.Thread.Name}', which exited " +
                     "without closing it, closed on its behalf so that the removal completes");
            Close(d);
            return;
        }
        Log.Warn($"bdev '{d.Bdev.Name}': event {type} not delivered: thread '{d.Thread.Name}' has exited");
    }

    private static void DeliverEvent(object? o, nint type) => ((BdevDesc)o!).Deliver((BdevEventType)type);

    /// <summary>spdk_bdev_notify_media_management: records the range and tells every
    /// descriptor; they read the ranges with <see cref="TakeMediaEvents"/>.</summary>
    public static int NotifyMediaManagement(Bdev b, ulong offset, ulong blocks)
    {
        if (blocks == 0 || offset + blocks < offset || offset + blocks > b.BlockCount)
        {
            return LastError.Set(Errno.EINVAL, $"media event range {offset}+{blocks} is outside bdev '{b.Name}'");
        }
        lock (b.MediaEvents)
        {
            if (b.MediaEvents.Count >= 1024)
            {
                return LastError.Set(Errno.ENOSPC, $"bdev '{b.Name}' has 1024 unread media events");
            }
            b.MediaEvents.Add((offset, blocks));
        }
        Notify(b, BdevEventType.MediaManagement);
        return 0;
    }

    public static int TakeMediaEvents(Bdev b, Span<(ulong Offset, ulong Blocks)> into)
    {
        lock (b.MediaEvents)
        {
            int n = Math.Min(into.Length, b.MediaEvents.Count);
            for (int i = 0; i < n; i++)
            {
                into[i] = b.MediaEvents[i];
            }
            b.MediaEvents.RemoveRange(0, n);
            return n;
        }
    }
}
