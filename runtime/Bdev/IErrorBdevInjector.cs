namespace NativeBdev.Bdev;

/// <summary>A module whose bdevs fail I/O on request (SPDK's error bdev and its
/// bdev_error_inject_error; nb_bdev_error_inject), reached through
/// <see cref="BdevModules.Find{T}"/>, so the front end that offers it names no module.</summary>
internal interface IErrorBdevInjector
{
    /// <summary>The next <paramref name="count"/> I/Os of <paramref name="ioType"/> (0: of every
    /// type) on the named error bdev fail as <paramref name="errorType"/> says (numbered as the
    /// header's enum nb_bdev_error_type). 0 or -errno.</summary>
    int Inject(string bdevName, int ioType, int errorType, uint count);

    /// <summary>The next <paramref name="count"/> I/Os of <paramref name="ioType"/> complete
    /// with the NVMe status <paramref name="sct"/>/<paramref name="sc"/> (SPDK's nvme_failure).</summary>
    int InjectNvme(string bdevName, int ioType, uint count, uint sct, uint sc);

    /// <summary>Removes every injection of the named error bdev (SPDK's io_type "clear").</summary>
    int Clear(string bdevName);
}
