using System.Reflection;
using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Interop;

namespace NativeBdev.Tests.Abi;

/// <summary>The kernel and libc ABI the runtime speaks by system call (io_uring, native AIO,
/// VFIO, mmap/open/fstat flags, errno) agrees with the real headers: tests/abi/kernel_layouts.c,
/// compiled here with gcc against linux-libc-dev and libc6-dev, prints every size, offset and
/// constant runtime/Interop mirrors, and each is compared with the C# definition.</summary>
public class KernelLayoutTests
{
    private static readonly StructMirror[] s_structs =
    [
        new("io_sqring_offsets", typeof(IoUringAbi.SqringOffsets)),
        new("io_cqring_offsets", typeof(IoUringAbi.CqringOffsets)),
        new("io_uring_params", typeof(IoUringAbi.Params)),
        new("io_uring_sqe", typeof(IoUringAbi.Sqe), "", ("rw_flags", "OpFlags")),
        new("io_uring_files_update", typeof(IoUringAbi.FilesUpdate)),
        new("io_uring_cqe", typeof(IoUringAbi.Cqe)),
        new("iocb", typeof(AioAbi.Iocb), "aio_"),
        new("io_event", typeof(AioAbi.IoEvent)),
        new("vfio_group_status", typeof(VfioAbi.GroupStatus)),
        new("vfio_region_info", typeof(VfioAbi.RegionInfo)),
        new("vfio_iommu_type1_dma_map", typeof(VfioAbi.DmaMap)),
        new("vfio_iommu_type1_dma_unmap", typeof(VfioAbi.DmaUnmap)),
        new("stat", typeof(Libc.Stat), "st_"),
        new("iovec", typeof(Iovec), "iov_", ("iov_len", "Length")),
        new("sockaddr_in", typeof(SocketAbi.SockaddrIn), "sin_"),
        new("sockaddr_in6", typeof(SocketAbi.SockaddrIn6), "sin6_"),
        new("sockaddr_un", typeof(SocketAbi.SockaddrUn), "sun_"),
        new("msghdr", typeof(SocketAbi.Msghdr), "msg_", ("msg_namelen", "NameLength"),
            ("msg_iovlen", "IovLength"), ("msg_controllen", "ControlLength")),
        new("epoll_event", typeof(SocketAbi.EpollEvent)),
        new("pollfd", typeof(SocketAbi.PollFd)),
    ];

    /// <summary>The classes whose structs and constants mirror kernel or libc headers.</summary>
    private static readonly Type[] s_mirrorClasses =
        [typeof(IoUringAbi), typeof(AioAbi), typeof(VfioAbi), typeof(Libc), typeof(SocketAbi), typeof(Errno)];

    /// <summary>C# mirrors no UAPI header declares, so nothing here can check them.</summary>
    private static readonly Dictionary<string, string> s_unchecked = new()
    {
        ["AioAbi.AioRing"] = "struct aio_ring is private to fs/aio.c: AioModule reads it only when its magic matches",
        ["AioAbi.AioRingMagic"] = "AIO_RING_MAGIC is private to fs/aio.c",
        ["IoUringAbi.BLOCK_URING_CMD_DISCARD"] =
            "linux/blkdev.h (Linux 6.12) is newer than this machine's linux-libc-dev; checked by a discard " +
            "on a loop device (tests/c/uring_unmap_loop.py)",
    };

    private static readonly Lazy<JsonElement> s_kernel = new(Dump);

    private static JsonElement Dump()
    {
        string dir = Directory.CreateTempSubdirectory("nb-kernel-layouts-").FullName;
        try
        {
            string exe = Path.Combine(dir, "kernel_layouts");
            NativeLayout.Run("gcc", "-std=gnu11", "-Wall", "-Wextra", "-o", exe, "tests/abi/kernel_layouts.c");
            return JsonDocument.Parse(NativeLayout.Run(exe)).RootElement;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task Kernel_structs_match_their_C_sharp_mirrors()
    {
        Dictionary<string, NativeStruct> kernel = NativeLayout.Structs(s_kernel.Value);
        var problems = new List<string>();
        foreach (StructMirror m in s_structs)
        {
            if (kernel.TryGetValue(m.Native, out NativeStruct? c))
            {
                problems.AddRange(m.Compare(c));
            }
            else
            {
                problems.Add($"{m.Native}: mirrored by C# {m.Managed.Name} but not printed by kernel_layouts.c");
            }
        }
        foreach (string n in kernel.Keys.Except(s_structs.Select(m => m.Native)))
        {
            problems.Add($"{n}: printed by kernel_layouts.c but mirrored by no C# struct in the mapping");
        }
        // Every struct declared in the mirror classes is checked, or excused above.
        IEnumerable<Type> declared = s_mirrorClasses
            .SelectMany(c => c.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
            .Where(t => t.IsValueType && !t.IsEnum && !t.Name.Contains('<'));
        foreach (Type t in declared)
        {
            if (s_structs.All(m => m.Managed != t) && !s_unchecked.ContainsKey($"{t.DeclaringType!.Name}.{t.Name}"))
            {
                problems.Add($"C# {t.DeclaringType!.Name}.{t.Name}: a kernel mirror with no check");
            }
        }

        await Disagreements.Verdict(problems, s_structs.Length);
    }

    [Test]
    public async Task Kernel_constants_match_their_C_sharp_mirrors()
    {
        var kernel = s_kernel.Value.GetProperty("constants").EnumerateObject()
            .ToDictionary(p => p.Name, p => NativeLayout.Integer(p.Value));
        var problems = new List<string>();
        var mirrored = new HashSet<string>();
        foreach (Type type in s_mirrorClasses)
        {
            foreach (string name in ManagedLayout.ConstantNames(type))
            {
                object value = ManagedLayout.Constant(type, name)!;
                if (s_unchecked.ContainsKey($"{type.Name}.{name}") || value is string)
                {
                    continue;
                }
                mirrored.Add(name);
                if (!kernel.TryGetValue(name, out Int128 c))
                {
                    problems.Add($"{name}: C# {type.Name}.{name} is not printed by kernel_layouts.c");
                }
                else if (c != (Int128)value)
                {
                    problems.Add($"{name}: value C {c}, C# {type.Name}.{name} {value}");
                }
            }
        }
        foreach (string n in kernel.Keys.Where(n => !mirrored.Contains(n)))
        {
            problems.Add($"{n}: printed by kernel_layouts.c but no C# constant in the mirror classes");
        }

        await Disagreements.Verdict(problems, mirrored.Count);
    }
}
