using System.Security.Cryptography;
using NativeBdev.Bdev;
using NativeBdev.Blob;
using NativeBdev.Modules.Lvol;
using NativeBdev.Reactor;
using NativeBdev.Tests.Blob;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules.Lvol;

/// <summary>Stores on files for the lvol bdev tests: a fixture copied to a temporary file (the
/// fixture itself is never written), brought up through the lvs URI over an aio bdev, volumes read
/// whole through the bdev layer, unloaded, and the file read back with the blobstore reader.</summary>
internal sealed class LvolTestStore : IDisposable
{
    public readonly string File;
    public readonly LightweightThread Thread;
    public LvolStore? Store;
    public string Message = "";

    public LvolTestStore(LightweightThread t, byte[]? image, long bytes = 0)
    {
        Thread = t;
        File = Path.Combine(Path.GetTempPath(), "nb-lvol-" + Guid.NewGuid().ToString("N")[..10] + ".img");
        if (image != null)
        {
            System.IO.File.WriteAllBytes(File, image);
        }
        else
        {
            using FileStream f = System.IO.File.Create(File);
            f.SetLength(bytes);
        }
    }

    public static LvolTestStore FromFixture(LightweightThread t, string image) => new(t, LvsFixtures.Image(image));

    public string Disk(uint blockSize) => $"aio:///{File}?blk_size={blockSize}";

    /// <summary>Creates <paramref name="uri"/> bound to the test's thread: (rc, name, message).</summary>
    public (int Rc, string? Name, string Message) Create(string uri) => Bdevs.Bound(Thread, () => Bdevs.TryCreate(uri));

    public int Bring(string pool, string mode, uint blockSize, string extra = "")
    {
        var r = Create($"lvs:///{pool}?mode={mode}&disk={Uri.EscapeDataString(Disk(blockSize))}{extra}");
        Store = r.Rc == 0 ? LvolStore.Find(pool) : null;
        Message = r.Message;
        return r.Rc;
    }

    /// <summary>The whole volume <paramref name="bdevName"/> read in 1 MiB I/Os, hashed.</summary>
    public string Sha256Of(string bdevName)
    {
        byte[] data = ReadAll(bdevName);
        return Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
    }

    public byte[] ReadAll(string bdevName)
    {
        BdevSession s = BdevSession.Open(Thread, bdevName, write: false);
        try
        {
            ulong bs = s.Bdev.BlockSize, total = s.Bdev.BlockCount;
            var data = new byte[total * bs];
            using var buf = new DmaBuffer(1 << 20);
            ulong per = (1UL << 20) / bs;
            for (ulong at = 0; at < total; at += per)
            {
                ulong n = Math.Min(per, total - at);
                int rc = s.Run(BdevIoType.Read, buf.Pointer, at, n);
                if (rc != 0)
                {
                    throw new InvalidOperationException($"read {bdevName} {at}+{n}: {rc}");
                }
                buf.Span[..(int)(n * bs)].CopyTo(data.AsSpan((int)(at * bs)));
            }
            return data;
        }
        finally
        {
            s.Close();
        }
    }

    /// <summary>Unloads the store and polls until it is done; its status.</summary>
    public int Unload(bool destroy = false)
    {
        int? status = null;
        int rc = Bdevs.Bound(Thread, () => Store!.Unload(destroy, r => status = r));
        if (rc != 0)
        {
            return rc;
        }
        if (!ThreadHost.PollUntil(() => status != null, Thread))
        {
            throw new TimeoutException("the store did not unload");
        }
        Store = null;
        return status!.Value;
    }

    /// <summary>The file as the blobstore reader on main sees it.</summary>
    public LvolStoreImage Reread()
    {
        int rc = LvolStoreImage.Load(new BlobByteDevice(System.IO.File.ReadAllBytes(File)), out LvolStoreImage? lvs,
            out string error);
        if (rc != 0)
        {
            throw new InvalidOperationException($"reread: {rc} {error}");
        }
        return lvs!;
    }

    public void Dispose()
    {
        if (Store != null)
        {
            try
            {
                Unload();
            }
            catch (TimeoutException)
            {
            }
        }
        System.IO.File.Delete(File);
    }
}
