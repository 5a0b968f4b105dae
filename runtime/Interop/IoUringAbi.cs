using System.Runtime.InteropServices;

namespace NativeBdev.Interop;

/// <summary>The io_uring kernel ABI (include/uapi/linux/io_uring.h), driven directly by
/// system call: no liburing. Layouts and constants are checked against the real header by
/// tests/unit/Abi/KernelLayoutTests.cs (through tests/abi/kernel_layouts.c).</summary>
internal static unsafe partial class IoUringAbi
{
    public const int SYS_io_uring_setup = 425;
    public const int SYS_io_uring_enter = 426;
    public const int SYS_io_uring_register = 427;

    public const uint IORING_SETUP_SQPOLL = 1u << 1;
    public const uint IORING_SETUP_CQSIZE = 1u << 3;
    public const uint IORING_SETUP_CLAMP = 1u << 4;
    public const uint IORING_SETUP_COOP_TASKRUN = 1u << 8;
    public const uint IORING_SETUP_TASKRUN_FLAG = 1u << 9;

    public const byte IORING_OP_NOP = 0;
    public const byte IORING_OP_READV = 1;
    public const byte IORING_OP_WRITEV = 2;
    public const byte IORING_OP_FSYNC = 3;
    public const byte IORING_OP_READ_FIXED = 4;
    public const byte IORING_OP_WRITE_FIXED = 5;
    public const byte IORING_OP_FALLOCATE = 17;
    public const byte IORING_OP_READ = 22;
    public const byte IORING_OP_WRITE = 23;
    public const byte IORING_OP_URING_CMD = 46;

    /// <summary>The block layer's io_uring discard (linux/blkdev.h, _IO(0x12, 0), Linux 6.12): an
    /// IORING_OP_URING_CMD with the byte offset in addr and the length in addr3.</summary>
    public const uint BLOCK_URING_CMD_DISCARD = 0x1200;

    public const byte IOSQE_FIXED_FILE = 1 << 0;
    public const uint IORING_FSYNC_DATASYNC = 1u << 0;

    public const uint IORING_ENTER_GETEVENTS = 1u << 0;
    public const uint IORING_ENTER_SQ_WAKEUP = 1u << 1;

    public const uint IORING_SQ_NEED_WAKEUP = 1u << 0;
    public const uint IORING_SQ_CQ_OVERFLOW = 1u << 1;
    public const uint IORING_SQ_TASKRUN = 1u << 2;

    public const uint IORING_FEAT_SINGLE_MMAP = 1u << 0;
    public const uint IORING_FEAT_NODROP = 1u << 1;

    public const long IORING_OFF_SQ_RING = 0;
    public const long IORING_OFF_CQ_RING = 0x8000000;
    public const long IORING_OFF_SQES = 0x10000000;

    public const uint IORING_REGISTER_BUFFERS = 0;
    public const uint IORING_REGISTER_FILES = 2;
    public const uint IORING_REGISTER_FILES_UPDATE = 6;

    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    [StructLayout(LayoutKind.Sequential)]
    public struct SqringOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1;
        public ulong UserAddr;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CqringOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1;
        public ulong UserAddr;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Params
    {
        public uint SqEntries, CqEntries, Flags, SqThreadCpu, SqThreadIdle, Features, WqFd;
        public uint Resv0, Resv1, Resv2;
        public SqringOffsets SqOff;
        public CqringOffsets CqOff;
    }

    /// <summary>struct io_uring_sqe (64 bytes), the fields this runtime uses.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    public struct Sqe
    {
        [FieldOffset(0)] public byte Opcode;
        [FieldOffset(1)] public byte Flags;
        [FieldOffset(2)] public ushort IoPrio;
        [FieldOffset(4)] public int Fd;
        [FieldOffset(8)] public ulong Off;
        [FieldOffset(16)] public ulong Addr;
        [FieldOffset(24)] public uint Len;
        [FieldOffset(28)] public uint OpFlags; // rw_flags, fsync_flags, ...
        [FieldOffset(32)] public ulong UserData;
        [FieldOffset(40)] public ushort BufIndex;
        [FieldOffset(42)] public ushort Personality;
        [FieldOffset(44)] public int SpliceFdIn;
        [FieldOffset(48)] public ulong Addr3;
        [FieldOffset(56)] public ulong Pad2;
    }

    /// <summary>struct io_uring_files_update: fills slots of a registered file table.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FilesUpdate
    {
        public uint Offset;
        public uint Resv;
        public ulong Fds; // __s32 *
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Cqe
    {
        public ulong UserData;
        public int Res;
        public uint Flags;
    }

    public static int Setup(uint entries, Params* p) =>
        (int)Libc.syscall(SYS_io_uring_setup, (nint)entries, (nint)p, 0, 0, 0, 0);

    public static int Enter(int fd, uint toSubmit, uint minComplete, uint flags) =>
        (int)Libc.syscall(SYS_io_uring_enter, fd, (nint)toSubmit, (nint)minComplete, (nint)flags, 0, 0);

    public static int Register(int fd, uint opcode, void* arg, uint nrArgs) =>
        (int)Libc.syscall(SYS_io_uring_register, fd, (nint)opcode, (nint)arg, (nint)nrArgs, 0, 0);
}
