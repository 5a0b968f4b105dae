using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Error;

/// <summary>error:///BASE?name=&amp;uuid= — SPDK's error bdev: a passthrough named EE_BASE
/// (SPDK's naming) that fails I/O on demand through <see cref="Inject"/>
/// (bdev_error_inject_error: failure, pending, corrupt_data, nomem; a number of I/Os).</summary>
internal sealed class ErrorModule : IBdevModule, IErrorBdevInjector
{
    public string Name => "error";
    public ReadOnlySpan<string> Schemes => new[] { "error" };

    public int Create(BdevUri uri, out string? name)
    {
        int rc = PassthroughBdev.CreateOver(uri, "error", b => "EE_" + b, "Error injection of ", "name, uuid",
            out PassthroughBdev? bdev);
        if (bdev != null)
        {
            // SPDK names an error bdev EE_<base> and takes only the base's name.
            bdev.ConfigWriter = static (writer, b) => BdevConfig.Entry(writer, "bdev_error_create", w =>
            {
                w.WriteString("base_name", b.Base.Name);
            });
        }
        name = bdev?.Name;
        return rc;
    }

    /// <summary>Error types, numbered as the header's enum nb_bdev_error_type.</summary>
    public const int Failure = 1, Pending = 2, CorruptData = 3, NoMemory = 4;

    int IErrorBdevInjector.Inject(string bdevName, int ioType, int errorType, uint count) =>
        Inject(bdevName, ioType, errorType, count);

    int IErrorBdevInjector.InjectNvme(string bdevName, int ioType, uint count, uint sct, uint sc)
    {
        if (sct > 7 || sc > 0xff || (sct == 0 && sc == 0))
        {
            return LastError.Set(Errno.EINVAL,
                $"NVMe status sct {sct} sc {sc}: sct 0-7 and sc 0-255, not both 0 (that is success)");
        }
        return AddInjection(bdevName, ioType, $"method=status-nvme-{sct}-{sc}", count);
    }

    int IErrorBdevInjector.Clear(string bdevName)
    {
        if (Find(bdevName) == null)
        {
            return NoSuchErrorBdev(bdevName);
        }
        FaultRegistry.RemoveInternal(bdevName);
        return 0;
    }

    private static int NoSuchErrorBdev(string name) =>
        LastError.Set(Errno.ENODEV, $"no error bdev named '{name}' (create one with error:///BASE)");

    private static Bdev.Bdev? Find(string name) =>
        BdevRegistry.Find(name) is { ModuleName: "error" } b ? b : null;

    /// <summary>bdev_error_inject_error: the next <paramref name="count"/> I/Os of
    /// <paramref name="ioType"/> (0 = all) on the error bdev fail in the given way.</summary>
    public static int Inject(string name, int ioType, int errorType, uint count)
    {
        if (Find(name) == null)
        {
            return NoSuchErrorBdev(name);
        }
        string how = errorType switch
        {
            Failure => "method=status",
            Pending => "method=timeout",
            CorruptData => "stage=compl&method=data",
            NoMemory => $"method=status&errno={Errno.ENOMEM}",
            _ => "",
        };
        if (how.Length == 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"error_type {errorType} is not failure (1), pending (2), corrupt_data (3) or nomem (4)");
        }
        if (errorType == CorruptData && ioType != (int)BdevIoType.Read)
        {
            return LastError.Set(Errno.EINVAL, "corrupt_data applies to reads: pass io_type read");
        }
        return AddInjection(name, ioType, how, count);
    }

    private static int AddInjection(string name, int ioType, string how, uint count)
    {
        if (Find(name) == null)
        {
            return NoSuchErrorBdev(name);
        }
        string op = ioType switch
        {
            0 => "all",
            (int)BdevIoType.Read => "read",
            (int)BdevIoType.Write => "write",
            (int)BdevIoType.Unmap => "unmap",
            (int)BdevIoType.Flush => "flush",
            (int)BdevIoType.WriteZeroes => "zeroes",
            _ => "",
        };
        if (op.Length == 0)
        {
            return LastError.Set(Errno.EINVAL,
                $"io_type {ioType} cannot be injected (0 all, 1 read, 2 write, 3 unmap, 4 flush, 6 write_zeroes)");
        }
        if (count == 0)
        {
            return LastError.Set(Errno.EINVAL, "count must be at least 1");
        }
        int rc = FaultRegistry.AddInternal(
            $"inject://{Uri.EscapeDataString(name)}?op={op}&{how}&count={count}");
        return rc < 0 ? rc : 0;
    }
}
