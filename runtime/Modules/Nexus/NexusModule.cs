using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Nexus;

/// <summary>nexus:///NAME?size=BYTES&amp;children=URI,URI,... — Mayastor's nexus URI. Each
/// child is a percent-encoded bdev URI (made through the factory unless a bdev of the name it
/// would make exists) or the name of an existing bdev. size defaults to the smallest child's;
/// the children share one block size. Needs a current thread (children are opened).</summary>
internal sealed class NexusModule : IBdevModule
{
    public string Name => "nexus";
    public ReadOnlySpan<string> Schemes => new[] { "nexus" };
    public unsafe int IoContextSize => sizeof(NexusIoContext);

    public int Create(BdevUri uri, out string? name)
    {
        name = null;
        ulong size = 0;
        Guid uuid = Guid.NewGuid();
        int rc;
        if ((rc = uri.GetU64("size", ref size)) != 0 || (rc = uri.GetUuid(ref uuid)) != 0)
        {
            return rc;
        }
        string? children = uri.Get("children");
        string? stateFile = uri.Get("state_file");
        if ((rc = uri.CheckAllUsed("size, children, uuid, state_file")) != 0 ||
            (rc = BdevRegistry.CheckName(uri.Name)) != 0)
        {
            return rc;
        }
        if (string.IsNullOrEmpty(children))
        {
            return LastError.Set(Errno.EINVAL, "nexus:///NAME needs children=URI,URI,... (percent-encoded URIs)");
        }
        rc = Create(uri.Name, size, children.Split(','), uuid, stateFile);
        name = rc == 0 ? uri.Name : null;
        return rc;
    }

    /// <summary>The core of nb_nexus_create: 0, or -errno with every child made for it destroyed.
    /// <paramref name="stateFile"/>: see <see cref="NexusBdev.UseStateFile"/>.</summary>
    public static int Create(string name, ulong sizeBytes, string[] childUris, Guid uuid, string? stateFile = null)
    {
        if (Reactor.LightweightThread.Current == null)
        {
            return LastError.Set(Errno.EINVAL,
                "no current thread: create a nexus from a thread (it opens its children)");
        }
        if (childUris.Length == 0 || childUris.Length > NexusBdev.MaxChildren)
        {
            return LastError.Set(Errno.EINVAL, $"a nexus takes 1 .. {NexusBdev.MaxChildren} children");
        }
        if (BdevRegistry.Find(name) != null)
        {
            return LastError.Set(Errno.EEXIST, $"a bdev named '{name}' exists");
        }
        var bdevs = new Bdev.Bdev[childUris.Length];
        var created = new bool[childUris.Length];
        int rc = 0;
        int made = 0;
        for (; made < childUris.Length && rc == 0; made++)
        {
            rc = ResolveChild(childUris[made], out Bdev.Bdev? b, out created[made]);
            bdevs[made] = b!;
        }
        NexusBdev? nexus = null;
        if (rc == 0)
        {
            rc = Build(name, sizeBytes, childUris, bdevs, created, uuid, stateFile, out nexus);
        }
        if (rc != 0)
        {
            int said = LastError.Errno;
            string message = LastError.Message;
            for (int i = 0; i < made; i++)
            {
                if (created[i] && bdevs[i] != null)
                {
                    BdevRegistry.Destroy(bdevs[i].Name, null);
                }
            }
            LastError.Set(said, message);
        }
        return rc;
    }

    private static int Build(string name, ulong sizeBytes, string[] uris, Bdev.Bdev[] bdevs, bool[] created, Guid uuid,
        string? stateFile, out NexusBdev? nexus)
    {
        nexus = null;
        uint bs = bdevs[0].BlockSize;
        ulong smallest = ulong.MaxValue;
        uint align = 1;
        bool dma = false;
        foreach (Bdev.Bdev b in bdevs)
        {
            if (b.BlockSize != bs)
            {
                return LastError.Set(Errno.EINVAL,
                    $"child '{b.Name}' has {b.BlockSize}-byte blocks, '{bdevs[0].Name}' {bs}");
            }
            smallest = Math.Min(smallest, b.BlockCount);
            align = Math.Max(align, b.RequiredAlignment);
            dma |= b.NeedsDmaBuffers;
        }
        ulong blocks = sizeBytes == 0 ? smallest : sizeBytes / bs;
        if (sizeBytes % bs != 0 || blocks == 0)
        {
            return LastError.Set(Errno.EINVAL, $"size {sizeBytes} is not a positive multiple of the block size {bs}");
        }
        if (blocks > smallest)
        {
            return LastError.Set(Errno.ENOSPC,
                $"size {sizeBytes} is more than the smallest child holds ({smallest * bs})");
        }
        var n = new NexusBdev(name, bs, blocks, uuid, align, dma);
        int rc = 0;
        for (int i = 0; i < bdevs.Length && rc == 0; i++)
        {
            rc = n.AddChildSlot(uris[i], bdevs[i], created[i], out NexusChild? c);
            if (rc == 0)
            {
                c!.State = NexusChildState.Open;
            }
        }
        if (rc == 0 && stateFile != null)
        {
            rc = n.UseStateFile(stateFile);
        }
        if (rc == 0 && (rc = BdevRegistry.Register(n)) == 0)
        {
            n.StateFile?.Start();
            nexus = n;
            return 0;
        }
        int said = LastError.Errno;
        string message = LastError.Message;
        foreach (NexusChild c in n.Children())
        {
            if (c.Desc is { Closed: false } d)
            {
                BdevRegistry.Close(d);
            }
            c.Dispose();
        }
        LastError.Set(said, message);
        return rc;
    }

    /// <summary>A child as the nexus URI names it: an existing bdev by name, or a URI whose bdev
    /// exists (its name= or its path) or is made now (<paramref name="created"/>).</summary>
    public static int ResolveChild(string text, out Bdev.Bdev? bdev, out bool created)
    {
        created = false;
        bdev = null;
        if (!text.Contains("://", StringComparison.Ordinal))
        {
            bdev = BdevRegistry.Find(text);
            return bdev is { Removing: false } ? 0 : LastError.Set(Errno.ENODEV, $"no bdev named '{text}' for a child");
        }
        int rc = BdevUri.Parse(text, out BdevUri? uri);
        if (rc != 0)
        {
            return rc;
        }
        string candidate = uri!.Get("name") ?? uri.Name;
        if (candidate.Length > 0 && BdevRegistry.Find(candidate) is { Removing: false } existing &&
            uri.Scheme is not ("bdev" or "loopback" or "error" or "delay" or "crypto" or "split"))
        {
            bdev = existing;
            return 0;
        }
        if ((rc = BdevFactory.Create(text, out string? made)) != 0)
        {
            return rc;
        }
        bdev = BdevRegistry.Find(made!);
        created = true;
        return bdev != null ? 0 : LastError.Set(Errno.ENODEV, $"child '{made}' went away as it was made");
    }

    /// <summary>The nexus named <paramref name="name"/>, or -ENODEV naming what it is instead.</summary>
    public static int Find(string name, out NexusBdev? nexus)
    {
        nexus = null;
        Bdev.Bdev? b = BdevRegistry.Find(name);
        if (b is NexusBdev { Removing: false } n)
        {
            nexus = n;
            return 0;
        }
        return LastError.Set(Errno.ENODEV, b == null ? $"no nexus named '{name}'"
            : $"bdev '{name}' is a {b.ModuleName} bdev, not a nexus");
    }

    /// <summary>The control operations need a thread: reconfigurations and rebuilds run on it.</summary>
    public static int CheckThread() => Reactor.LightweightThread.Current != null ? 0
        : LastError.Set(Errno.EINVAL,
            "no current thread: nexus operations run on a thread (nb_thread_poll, nb_set_thread)");
}

