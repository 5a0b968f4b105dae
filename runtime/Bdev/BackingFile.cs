using System;
using System.Text;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Bdev;

/// <summary>A regular file or block device opened for a kernel-I/O backend (uring, aio):
/// the parameters such backends share (<c>blk_size</c>, <c>direct</c>, <c>readonly</c>,
/// <c>name</c>, <c>uuid</c>), the checks, and a precise message for each way opening fails.
/// Lives in the bdev layer so that backends share it without knowing each other.</summary>
internal sealed unsafe class BackingFile : IDisposable
{
    public int Fd { get; private set; } = -1;
    public string Path { get; }
    public bool IsBlockDevice { get; private set; }
    public bool Direct { get; private set; }
    public bool ReadOnly { get; private set; }
    public uint BlockSize { get; private set; }
    public ulong BlockCount { get; private set; }
    /// <summary>Buffer and offset alignment the kernel demands (O_DIRECT), 1 if none.</summary>
    public uint Alignment { get; private set; } = 1;
    public string Name { get; private set; } = "";
    public Guid Uuid { get; private set; } = Guid.NewGuid();

    /// <summary>Block devices: the largest discard and write-zeroes the device's queue takes
    /// (sysfs queue/discard_max_bytes and write_zeroes_max_bytes); 0 when it takes none (a brd
    /// ram disk of Linux 6.1 has neither) or the limits cannot be read.</summary>
    public ulong DiscardMaxBytes { get; private set; }
    public ulong WriteZeroesMaxBytes { get; private set; }

    /// <summary>Where the block devices' sysfs directories are by number: tests point it elsewhere.</summary>
    internal static string SysDevBlockDirectory { get; set; } = "/sys/dev/block";

    /// <summary>Files default to 512-byte blocks (documented; pass blk_size=4096 for 4Kn
    /// storage under O_DIRECT); block devices use their logical block size.</summary>
    public const uint DefaultFileBlockSize = 512;

    private BackingFile(string path) => Path = path;

    public static int Open(BdevUri uri, out BackingFile? file, string extraKnown = "")
    {
        file = null;
        string path = uri.Path;
        if (path.Length == 0 || path == "/")
        {
            return LastError.Set(Errno.EINVAL,
                $"{uri.Scheme}:// needs a file or device path, e.g. {uri.Scheme}:///dev/sdb");
        }
        var f = new BackingFile(path);
        bool direct = true, ro = false;
        ulong bs = 0;
        Guid uuid = f.Uuid;
        int rc;
        if ((rc = uri.GetBool("direct", ref direct)) != 0 || (rc = uri.GetBool("readonly", ref ro)) != 0 ||
            (rc = uri.GetU64("blk_size", ref bs)) != 0 || (rc = uri.GetUuid(ref uuid)) != 0)
        {
            return rc;
        }
        if (bs != 0 && (rc = BdevGeometry.CheckBlockSize(bs)) != 0)
        {
            return rc;
        }
        f.Name = uri.Get("name") ?? path; // Mayastor names these bdevs by their path
        if ((rc = BdevRegistry.CheckName(f.Name)) != 0)
        {
            return rc;
        }
        f.Uuid = uuid;
        f.Direct = direct;
        f.ReadOnly = ro;
        if ((rc = f.OpenFd()) != 0 || (rc = f.Inspect(bs)) != 0)
        {
            f.Dispose();
            return rc;
        }
        file = f;
        return 0;
    }

    private int OpenFd()
    {
        byte[] p = Encoding.UTF8.GetBytes(Path + "\0");
        // O_NONBLOCK so that a FIFO cannot block the open (it is refused after fstat); it is
        // cleared again once the fd is known to be a file or block device, because io_uring
        // answers -EAGAIN instead of waiting on a non-blocking file.
        int flags = (ReadOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC | Libc.O_NONBLOCK;
        fixed (byte* pp = p)
        {
            int fd = Libc.open(pp, flags | (Direct ? Libc.O_DIRECT : 0), 0);
            if (fd >= 0)
            {
                Fd = fd;
                return 0;
            }
            int e = Libc.LastErrno;
            switch (e)
            {
                case Errno.ENOENT:
                    return LastError.Set(e, $"no such file or device '{Path}'");
                case Errno.EISDIR:
                    return LastError.Set(e, $"'{Path}' is a directory, not a file or block device");
                case Errno.EACCES:
                case Errno.EPERM:
                    return LastError.Set(e, $"permission denied opening '{Path}' " +
                        (ReadOnly ? "for reading" : "for reading and writing (readonly=1 opens it read-only)"));
                case Errno.EROFS:
                    return LastError.Set(e, $"'{Path}' is on a read-only filesystem: open it with readonly=1");
                case Errno.EINVAL when Direct:
                    // Either O_DIRECT is refused, or this is no file at all (a character
                    // device refuses O_DIRECT too): look before saying which.
                    int probe = Libc.open(pp, flags, 0);
                    if (probe >= 0)
                    {
                        Libc.Stat st;
                        uint type = Libc.fstat(probe, &st) == 0 ? st.Mode & Libc.S_IFMT : 0;
                        Libc.close(probe);
                        return type is Libc.S_IFREG or Libc.S_IFBLK
                            ? LastError.Set(e, $"the filesystem of '{Path}' refuses O_DIRECT: use direct=0")
                            : LastError.Set(e, $"'{Path}' is not a regular file or a block device");
                    }
                    return LastError.Set(e, $"cannot open '{Path}': {Libc.StrError(e)}");
                default:
                    return LastError.Set(e, $"cannot open '{Path}': {Libc.StrError(e)}");
            }
        }
    }

    private int Inspect(ulong requestedBlockSize)
    {
        Libc.Stat st;
        if (Libc.fstat(Fd, &st) != 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"cannot stat '{Path}': {Libc.StrError(e)}");
        }
        uint type = st.Mode & Libc.S_IFMT;
        ulong bytes;
        uint logical = 512;
        if (type == Libc.S_IFREG)
        {
            bytes = (ulong)st.Size;
            BlockSize = requestedBlockSize != 0 ? (uint)requestedBlockSize : DefaultFileBlockSize;
        }
        else if (type == Libc.S_IFBLK)
        {
            IsBlockDevice = true;
            ulong size64;
            int ssz;
            if (Libc.ioctl(Fd, Libc.BLKGETSIZE64, &size64) != 0 || Libc.ioctl(Fd, Libc.BLKSSZGET, &ssz) != 0)
            {
                int e = Libc.LastErrno;
                return LastError.Set(e, $"cannot read the geometry of block device '{Path}': {Libc.StrError(e)}");
            }
            bytes = size64;
            logical = (uint)ssz;
            if (requestedBlockSize != 0 && (requestedBlockSize < logical || requestedBlockSize % logical != 0))
            {
                return LastError.Set(Errno.EINVAL,
                    $"blk_size {requestedBlockSize} does not fit '{Path}', whose logical block size is {logical}");
            }
            BlockSize = requestedBlockSize != 0 ? (uint)requestedBlockSize : logical;
            ReadQueueLimits(st.Rdev);
        }
        else
        {
            return LastError.Set(Errno.EINVAL, type == Libc.S_IFDIR
                ? $"'{Path}' is a directory, not a file or block device"
                : $"'{Path}' is not a regular file or a block device");
        }
        int fl = Libc.fcntl(Fd, Libc.F_GETFL, 0);
        if (fl < 0 || Libc.fcntl(Fd, Libc.F_SETFL, fl & ~Libc.O_NONBLOCK) != 0)
        {
            int e = Libc.LastErrno;
            return LastError.Set(e, $"cannot clear O_NONBLOCK on '{Path}': {Libc.StrError(e)}");
        }
        if (bytes == 0)
        {
            return LastError.Set(Errno.EINVAL, $"'{Path}' is empty");
        }
        if (bytes % BlockSize != 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"size of '{Path}' ({bytes} bytes) is not a multiple of the block size {BlockSize}");
        }
        BlockCount = bytes / BlockSize;
        Alignment = Direct ? Math.Min(logical, BlockSize) : 1;
        return 0;
    }

    /// <summary>The queue limits of block device <paramref name="rdev"/> (glibc's major/minor
    /// split of st_rdev); a partition has no queue of its own and shares its disk's.</summary>
    private void ReadQueueLimits(ulong rdev)
    {
        ulong major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & 0xfffff000);
        ulong minor = (rdev & 0xff) | ((rdev >> 12) & 0xffffff00);
        string dev = $"{SysDevBlockDirectory}/{major}:{minor}";
        string queue = System.IO.Directory.Exists(dev + "/queue") ? dev + "/queue" : dev + "/../queue";
        DiscardMaxBytes = ReadLimit(queue + "/discard_max_bytes");
        WriteZeroesMaxBytes = ReadLimit(queue + "/write_zeroes_max_bytes");
    }

    private static ulong ReadLimit(string path)
    {
        try
        {
            return ulong.TryParse(System.IO.File.ReadAllText(path).Trim(), out ulong v) ? v : 0;
        }
        catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException)
        {
            return 0; // no sysfs (a container without it): claim nothing
        }
    }

    /// <summary>Whether fallocate with FALLOC_FL_PUNCH_HOLE or ZERO_RANGE works. A file is
    /// probed past its end with KEEP_SIZE, which changes nothing. A block device zeroes any range
    /// (the kernel writes zeroes where the device cannot), but punches a hole only with the
    /// device's own write-zeroes-with-unmap (blkdev_fallocate: no fallback), so only where the
    /// queue has a write-zeroes limit.</summary>
    public bool SupportsFallocate(int mode)
    {
        if (ReadOnly)
        {
            return false;
        }
        if (IsBlockDevice)
        {
            return mode != IoUringAbi.FALLOC_FL_PUNCH_HOLE || WriteZeroesMaxBytes > 0;
        }
        long end = (long)(BlockCount * BlockSize);
        bool ok = Libc.fallocate(Fd, mode | IoUringAbi.FALLOC_FL_KEEP_SIZE, end, BlockSize) == 0;
        if (ok && mode != IoUringAbi.FALLOC_FL_PUNCH_HOLE)
        {
            // ZERO_RANGE past the end preallocated a block there: give it back.
            Libc.fallocate(Fd, IoUringAbi.FALLOC_FL_PUNCH_HOLE | IoUringAbi.FALLOC_FL_KEEP_SIZE, end, BlockSize);
        }
        return ok;
    }

    /// <summary>Bdev.DataExtent for a file: the next data at or after <paramref name="offset"/>
    /// (SEEK_DATA) and the hole after it (SEEK_HOLE); past the last data (ENXIO) the range is empty
    /// at the end. A block device, or a file system that cannot say, answers everything.</summary>
    public void DataExtent(ulong offset, out ulong start, out ulong end)
    {
        ulong size = BlockCount * BlockSize;
        start = offset;
        end = size;
        if (IsBlockDevice || Fd < 0 || offset >= size)
        {
            return;
        }
        long data = Libc.lseek(Fd, (long)offset, Libc.SEEK_DATA);
        if (data < 0)
        {
            if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Errno.ENXIO)
            {
                start = end = size; // no data after offset
            }
            return;
        }
        long hole = Libc.lseek(Fd, data, Libc.SEEK_HOLE);
        if (hole <= data)
        {
            return;
        }
        start = Math.Min((ulong)data, size);
        end = Math.Min((ulong)hole, size);
    }

    public void Dispose()
    {
        if (Fd >= 0)
        {
            Libc.close(Fd);
            Fd = -1;
        }
    }
}
