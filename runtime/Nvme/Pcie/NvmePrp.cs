using System.Runtime.CompilerServices;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Nvme.Pcie;

/// <summary>Physical Region Page entries for a command's data (NVMe base specification,
/// "Physical Region Page Entry and List"): the first entry may start anywhere (dword
/// aligned), every later one starts on a page boundary, every one but the last runs to
/// its page's end. One entry goes in PRP1, two in PRP1 and PRP2, more in PRP1 and a list
/// (the tracker's page) that PRP2 points to.</summary>
internal static unsafe class NvmePrp
{
    public const int ListEntries = NvmeSpec.PageSize / 8;

    private struct Builder
    {
        public NvmeTracker* Tracker;
        public int Count;
        public ulong First;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Add(ulong address)
        {
            if (Count == 0)
            {
                First = address;
            }
            else if (Count > ListEntries)
            {
                return false;
            }
            else
            {
                Tracker->PrpList[Count - 1] = address;
            }
            Count++;
            return true;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Finish(ref NvmeCommand cmd)
        {
            cmd.Prp1 = First;
            cmd.Prp2 = Count switch
            {
                <= 1 => 0,
                2 => Tracker->PrpList[0],
                _ => Tracker->PrpListIova,
            };
        }
    }

    /// <summary>Entries for <paramref name="length"/> bytes at <paramref name="p"/>, which
    /// must lie in the DMA pool. 0 or -EINVAL.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int AddRange(ref Builder b, DmaPool pool, byte* p, ulong length)
    {
        while (length > 0)
        {
            long address = pool.TranslatePage(p);
            if (address < 0 || !b.Add((ulong)address))
            {
                return address < 0 ? NotDma() : TooManyEntries();
            }
            ulong inPage = (ulong)(NvmeSpec.PageSize - ((nuint)p & (NvmeSpec.PageSize - 1)));
            ulong n = inPage < length ? inPage : length;
            p += n;
            length -= n;
        }
        return 0;
    }

    /// <summary>PRPs for one contiguous buffer in the DMA pool.</summary>
    public static int Build(NvmeTracker* t, byte* p, int length, ref NvmeCommand cmd)
    {
        DmaPool? pool = NbEnvironment.Dma;
        if (pool == null)
        {
            return NbEnvironment.NotInitialized();
        }
        var b = new Builder { Tracker = t };
        int rc = AddRange(ref b, pool, p, (ulong)length);
        if (rc == 0)
        {
            b.Finish(ref cmd);
        }
        return rc;
    }

    /// <summary>PRPs for bytes [<paramref name="start"/>, start + length) of an iovec list.
    /// The bdev layer has checked that interior iovec boundaries fall on page boundaries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Build(NvmeTracker* t, DmaPool pool, Iovec* iovs, int iovCount, ulong start, ulong length,
        ref NvmeCommand cmd)
    {
        var b = new Builder { Tracker = t };
        int i = 0;
        ulong skip = start;
        while (i < iovCount && skip >= iovs[i].Length)
        {
            skip -= iovs[i].Length;
            i++;
        }
        for (; length > 0 && i < iovCount; i++)
        {
            ulong avail = iovs[i].Length - skip;
            ulong n = avail < length ? avail : length;
            int rc = AddRange(ref b, pool, iovs[i].Base + skip, n);
            if (rc != 0)
            {
                return rc;
            }
            length -= n;
            skip = 0;
        }
        b.Finish(ref cmd);
        return 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int NotDma() => LastError.Set(Errno.EINVAL,
        "an NVMe data buffer is not in DMA memory (allocate it with nb_dma_malloc)");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int TooManyEntries() => LastError.Set(Errno.EINVAL,
        "an NVMe command's data needs more PRP entries than one list page holds");
}
