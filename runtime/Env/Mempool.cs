using System;
using System.Collections.Generic;
using System.Threading;
using NativeBdev.Interop;

namespace NativeBdev.Env;

/// <summary>spdk_mempool: a fixed number of fixed-size elements carved from DMA memory at
/// creation. A lock-free shared ring holds the free elements; each execution context (a
/// lightweight thread, <see cref="ContextIndex"/>) has its own cache, used only while that
/// context is current on the calling OS thread (a thread is polled by one OS thread at a time,
/// so the cache needs no synchronisation). Calls from outside any go straight to the ring.</summary>
internal sealed unsafe class Mempool : IDisposable
{
    private sealed class Cache
    {
        public readonly nint[] Items;
        public int Count;

        public Cache(int size) => Items = new nint[size];
    }

    private static readonly object s_lock = new();
    private static readonly List<Mempool> s_pools = new();

    public readonly string Name;
    public readonly int Count;
    public readonly int ElementSize;
    public readonly int CacheSize;
    public nint Handle { get; private set; }
    private readonly DmaPool _dma;
    private readonly byte* _base;
    private readonly MpmcQueue<nint> _ring;
    // One byte per element, 1 while it is in the pool: a put of an element already there
    // (a double put) is refused instead of handing the same memory to two owners later.
    private readonly byte[] _inPool;
    private readonly Cache?[] _caches = new Cache?[ContextIndex.Max];

    static Mempool()
    {
        ContextIndex.Retired += FlushContext;
    }

    private Mempool(string name, int count, int elementSize, int cacheSize, DmaPool dma, byte* baseAddr)
    {
        Name = name;
        Count = count;
        ElementSize = elementSize;
        CacheSize = cacheSize;
        _dma = dma;
        _base = baseAddr;
        _ring = new MpmcQueue<nint>((int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(count, 2)));
        _inPool = new byte[count];
        Array.Fill(_inPool, (byte)1);
        for (int i = 0; i < count; i++)
        {
            _ring.TryEnqueue((nint)(baseAddr + (long)i * elementSize));
        }
    }

    public const int MaxCount = 1 << 26;
    public const int MaxCacheSize = 512;

    public static int Create(DmaPool dma, string? name, long count, long elementSize, long cacheSize, out Mempool? pool)
    {
        pool = null;
        if (count <= 0 || count > MaxCount)
        {
            return LastError.Set(Errno.EINVAL, $"mempool element count {count} must be 1 .. {MaxCount}");
        }
        if (elementSize <= 0 || elementSize > (1L << 30))
        {
            return LastError.Set(Errno.EINVAL, $"mempool element size {elementSize} must be 1 .. 1 GiB");
        }
        if (cacheSize < 0 || cacheSize > MaxCacheSize)
        {
            return LastError.Set(Errno.EINVAL, $"mempool cache size {cacheSize} must be 0 .. {MaxCacheSize}");
        }
        // Elements on cache-line boundaries so two threads' elements never share a line.
        long stride = DmaRegion.AlignUp(elementSize, 64);
        if (stride * count > (1L << 40))
        {
            return LastError.Set(Errno.EINVAL, $"mempool of {count} x {elementSize} bytes is too large");
        }
        byte* mem = (byte*)dma.Alloc(stride * count, 64, zero: false);
        if (mem == null)
        {
            return -Errno.ENOMEM; // LastError already says why
        }
        var p = new Mempool(name ?? "mempool", (int)count, (int)stride, (int)cacheSize, dma, mem);
        p.Handle = Handles.Allocate(p);
        lock (s_lock)
        {
            s_pools.Add(p);
        }
        pool = p;
        return 0;
    }

    public bool Owns(void* element)
    {
        long off = (byte*)element - _base;
        return off >= 0 && off < (long)Count * ElementSize && off % ElementSize == 0;
    }

    public void* Get()
    {
        void* e = Take();
        if (e != null)
        {
            Volatile.Write(ref _inPool[IndexOf(e)], 0);
        }
        return e;
    }

    private int IndexOf(void* element) => (int)(((byte*)element - _base) / ElementSize);

    /// <summary>Returns an element; false if it is already in the pool (a double put).
    /// The caller has checked <see cref="Owns"/>.</summary>
    public bool TryPut(void* element)
    {
        if (Interlocked.CompareExchange(ref _inPool[IndexOf(element)], 1, 0) != 0)
        {
            return false;
        }
        Put(element);
        return true;
    }

    /// <summary>spdk_mempool_get_bulk: all <paramref name="count"/> elements, or none (what
    /// was taken goes back) when fewer are free.</summary>
    public int GetBulk(void** elements, nuint count)
    {
        if (count > (nuint)Count)
        {
            return LastError.Set(Errno.EINVAL, $"count {count} is more than the pool holds ({Count})");
        }
        for (nuint i = 0; i < count; i++)
        {
            void* e = Get();
            if (e == null)
            {
                while (i > 0)
                {
                    TryPut(elements[--i]);
                }
                return LastError.Set(Errno.ENOMEM, $"mempool has fewer than {count} elements free");
            }
            elements[i] = e;
        }
        return 0;
    }

    /// <summary>spdk_mempool_put_bulk: all <paramref name="count"/> elements back, or none: a
    /// foreign element, one already in the pool or one listed twice refuses the whole call.</summary>
    public int PutBulk(void** elements, nuint count)
    {
        if (count > (nuint)Count)
        {
            return LastError.Set(Errno.EINVAL, $"count {count} is more than the pool holds ({Count})");
        }
        for (nuint i = 0; i < count; i++)
        {
            if (!Owns(elements[i]))
            {
                return LastError.Set(Errno.EINVAL, $"element {i} does not belong to this mempool (nothing was put)");
            }
        }
        return TryPutAll(elements, (int)count) ? 0 : LastError.Set(Errno.EINVAL,
            "an element is already in the mempool or listed twice (double put): nothing was put");
    }

    /// <summary>Returns all <paramref name="count"/> elements or none: each is first
    /// reserved (out → 2), so an element already in the pool or listed twice fails the whole
    /// call before anything is put. The caller has checked <see cref="Owns"/>.</summary>
    private bool TryPutAll(void** elements, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (Interlocked.CompareExchange(ref _inPool[IndexOf(elements[i])], 2, 0) != 0)
            {
                while (--i >= 0)
                {
                    Volatile.Write(ref _inPool[IndexOf(elements[i])], 0);
                }
                return false;
            }
        }
        for (int i = 0; i < count; i++)
        {
            Volatile.Write(ref _inPool[IndexOf(elements[i])], 1);
            Put(elements[i]);
        }
        return true;
    }

    private void* Take()
    {
        Cache? cache = CurrentCache();
        if (cache != null)
        {
            if (cache.Count == 0)
            {
                // Refill half a cache in one go, so a thread doing get/put pairs in a loop
                // touches the shared ring once per CacheSize/2 operations.
                int want = Math.Max(1, CacheSize / 2);
                while (cache.Count < want && _ring.TryDequeue(out nint e))
                {
                    cache.Items[cache.Count++] = e;
                }
            }
            return cache.Count > 0 ? (void*)cache.Items[--cache.Count] : null;
        }
        return _ring.TryDequeue(out nint item) ? (void*)item : null;
    }

    private void Put(void* element)
    {
        Cache? cache = CurrentCache();
        if (cache != null)
        {
            if (cache.Count == cache.Items.Length)
            {
                int keep = cache.Items.Length / 2;
                while (cache.Count > keep)
                {
                    _ring.TryEnqueue(cache.Items[--cache.Count]);
                }
            }
            cache.Items[cache.Count++] = (nint)element;
            return;
        }
        bool ok = _ring.TryEnqueue((nint)element);
        Invariant.Assert(ok, "mempool ring overflow: an element was put twice");
    }

    /// <summary>Elements available (ring plus every cache); exact only when quiet.</summary>
    public int Available
    {
        get
        {
            int n = _ring.Count;
            foreach (Cache? c in _caches)
            {
                n += c?.Count ?? 0;
            }
            return n;
        }
    }

    private Cache? CurrentCache()
    {
        if (CacheSize == 0)
        {
            return null;
        }
        int context = ContextIndex.Current;
        if (context < 0)
        {
            return null;
        }
        return _caches[context] ??= new Cache(CacheSize);
    }

    private static void FlushContext(int context)
    {
        lock (s_lock)
        {
            foreach (Mempool p in s_pools)
            {
                Cache? c = p._caches[context];
                if (c == null)
                {
                    continue;
                }
                while (c.Count > 0)
                {
                    p._ring.TryEnqueue(c.Items[--c.Count]);
                }
                p._caches[context] = null;
            }
        }
    }

    /// <summary>Frees the pool's memory. Refused (-EBUSY) while elements are out, so a host
    /// that still holds one never sees its memory reused.</summary>
    public int Free()
    {
        int available = Available;
        if (available != Count)
        {
            return LastError.Set(Errno.EBUSY,
                $"mempool '{Name}' has {Count - available} of {Count} elements still in use");
        }
        Dispose();
        return 0;
    }

    public void Dispose()
    {
        lock (s_lock)
        {
            if (!s_pools.Remove(this))
            {
                return;
            }
        }
        Handles.Release(Handle);
        _dma.Free(_base);
    }

    public static int LiveCount
    {
        get
        {
            lock (s_lock)
            {
                return s_pools.Count;
            }
        }
    }
}
