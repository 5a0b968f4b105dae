using System;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Reactor;

namespace NativeBdev.Abi;

/// <summary>The opaque pointers the C ABI hands out are not addresses: each encodes a slot
/// index, the object's type and the slot's generation (index:24 | type:8 | generation:31).
/// A closed or stale handle fails the generation check, a foreign value fails the range or
/// type check; none is ever dereferenced. Look-up is lock-free (one array load and one
/// compare); allocation and release take a lock. The table is the ABI's: the core gets its
/// objects' handles through Env's <see cref="Handles"/> seam (<see cref="HandleAllocator"/>)
/// and never looks inside one.</summary>
internal static class HandleTable
{
    private sealed class Entry
    {
        public readonly ulong Handle;
        public readonly object Target;

        public Entry(ulong handle, object target)
        {
            Handle = handle;
            Target = target;
        }
    }

    private const int IndexBits = 24;
    private const int MaxEntries = 1 << IndexBits;
    private static readonly object s_lock = new();
    private static Entry?[] s_entries = new Entry?[1024];
    private static uint[] s_generations = new uint[1024];
    private static int[] s_free = new int[1024];
    private static int s_freeCount;
    private static int s_next;
    private static int s_live;

    public static int LiveCount => Volatile.Read(ref s_live);

    /// <summary>How many live handles are of <paramref name="type"/>: a scan under the lock,
    /// for leak checks that must not count what other tests hold meanwhile.</summary>
    public static int LiveCountOf(HandleType type)
    {
        lock (s_lock)
        {
            int n = 0;
            for (int i = 0; i < s_next; i++)
            {
                Entry? e = s_entries[i];
                if (e != null && ((e.Handle >> IndexBits) & 0xff) == (ulong)type)
                {
                    n++;
                }
            }
            return n;
        }
    }

    public static nint Allocate(HandleType type, object target)
    {
        Invariant.Assert(ExpectedClass(type, target), "handle type does not match the object's class");
        lock (s_lock)
        {
            int index;
            if (s_freeCount > 0)
            {
                index = s_free[--s_freeCount];
            }
            else
            {
                if (s_next == s_entries.Length)
                {
                    if (s_next >= MaxEntries)
                    {
                        throw new InvalidOperationException("handle table is full");
                    }
                    int size = s_entries.Length * 2;
                    var entries = new Entry?[size];
                    Array.Copy(s_entries, entries, s_entries.Length);
                    Array.Resize(ref s_generations, size);
                    Array.Resize(ref s_free, size);
                    Volatile.Write(ref s_entries, entries);
                }
                index = s_next++;
            }
            uint gen = (s_generations[index] + 1) & 0x7fffffff;
            if (gen == 0)
            {
                gen = 1;
            }
            s_generations[index] = gen;
            ulong handle = ((ulong)gen << 32) | ((ulong)type << IndexBits) | (uint)index;
            Volatile.Write(ref s_entries[index], new Entry(handle, target));
            s_live++;
            return (nint)handle;
        }
    }

    public static void Release(nint handle)
    {
        lock (s_lock)
        {
            int index = (int)((ulong)handle & (MaxEntries - 1));
            Entry? e = index < s_next ? s_entries[index] : null;
            if (e == null || e.Handle != (ulong)handle)
            {
                return;
            }
            Volatile.Write(ref s_entries[index], null);
            s_free[s_freeCount++] = index;
            s_live--;
        }
    }

    /// <summary>The live object behind <paramref name="handle"/>, or null if the handle is
    /// null, stale, foreign or of another type. The type byte inside the handle decides the
    /// class (each <see cref="HandleType"/> is allocated for one class only), so the result
    /// is reinterpreted rather than cast: a checked cast in this shared generic method cost
    /// a runtime type look-up (IsInstanceOfAny) on every I/O.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T? Get<T>(nint handle, HandleType type) where T : class
    {
        ulong h = (ulong)handle;
        if (((h >> IndexBits) & 0xff) != (ulong)type)
        {
            return null;
        }
        Entry?[] entries = s_entries; // replaced wholesale on growth; a stale array is still valid
        uint index = (uint)(h & (MaxEntries - 1));
        if (index >= (uint)entries.Length)
        {
            return null;
        }
        Entry? e = entries[index];
        return e != null && e.Handle == h ? Unsafe.As<T>(e.Target) : null;
    }

    /// <summary>Why a handle did not resolve, for the error message.</summary>
    public static string Describe(nint handle, HandleType type)
    {
        if (handle == 0)
        {
            return $"{Name(type)} handle is NULL";
        }
        ulong h = (ulong)handle;
        byte actual = (byte)((h >> IndexBits) & 0xff);
        if (actual != (byte)type)
        {
            return Enum.IsDefined(typeof(HandleType), actual) && (h >> 32) != 0
                ? $"handle 0x{h:x} is a {Name((HandleType)actual)} handle, not a {Name(type)} handle"
                : $"0x{h:x} is not a {Name(type)} handle";
        }
        return $"{Name(type)} handle 0x{h:x} is stale (the object was closed or destroyed)";
    }

    private static bool ExpectedClass(HandleType type, object target) => type switch
    {
        HandleType.Thread => target is LightweightThread,
        HandleType.Poller => target is Poller,
        HandleType.IoChannel => target is IoChannel,
        HandleType.Mempool => target is Mempool,
        HandleType.Bdev => target is Bdev.Bdev,
        HandleType.BdevDesc => target is BdevDesc,
        HandleType.RpcRequest => target is RpcHostRequest,
        _ => false, // BdevIo is a raw pointer, never a handle
    };

    private static string Name(HandleType t) => t switch
    {
        HandleType.Thread => "thread",
        HandleType.Poller => "poller",
        HandleType.IoChannel => "io channel",
        HandleType.Mempool => "mempool",
        HandleType.Bdev => "bdev",
        HandleType.BdevDesc => "bdev descriptor",
        HandleType.BdevIo => "bdev io",
        HandleType.RpcRequest => "rpc request",
        _ => "unknown",
    };
}
